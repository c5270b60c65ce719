"""NeMo Run's job group (a list of tasks in one ``add``) and ``reset`` for a second run of the same experiment."""

import kuberun as run

if __name__ == "__main__":
    with run.Experiment("hello_groups", executor=run.LocalExecutor()) as exp:
        pair = exp.add([run.Script(inline="echo member-a"), run.Script(inline="echo member-b")], name="pair")
        exp.add(run.Script(inline="echo after the pair"), name="after", dependencies=[pair])
        exp.run(detach=False)
    again = exp.reset()
    again.run(detach=False)
    print("RUNS", exp.name, again.name)
