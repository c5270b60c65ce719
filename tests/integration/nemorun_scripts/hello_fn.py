"""NeMo Run's quick start: one function, configured with run.Partial, run with run.run on a LocalExecutor."""

import kuberun as run


def add(a: int, b: int) -> int:
    result = a + b
    print(f"{a} + {b} = {result}")
    return result


if __name__ == "__main__":
    partial = run.Partial(add, a=2, b=3)
    run.run(partial, executor=run.LocalExecutor())
