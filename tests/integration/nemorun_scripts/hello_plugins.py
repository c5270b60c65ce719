"""NeMo Run's plugins: an ExperimentPlugin whose setup(task, executor) sets an environment variable."""

from dataclasses import dataclass

import kuberun as run


@dataclass(kw_only=True)
class GreetingPlugin(run.Plugin):
    greeting: str = "hi"

    def setup(self, task, executor):
        executor.env_vars["GREETING"] = self.greeting


def greet(name: str) -> str:
    import os

    message = f"{os.environ['GREETING']} {name}"
    print(message)
    return message


if __name__ == "__main__":
    with run.Experiment("hello_plugins") as exp:
        exp.add(run.Partial(greet, name="world"), executor=run.LocalExecutor(), plugins=[GreetingPlugin(greeting="hello")])
        exp.run(detach=False)
