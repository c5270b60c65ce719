"""NeMo Run's hello scripts: a script file and an inline script, run one after the other."""

import kuberun as run

if __name__ == "__main__":
    script = run.Script("./scripts/echo.sh")
    inline_script = run.Script(
        inline="""
echo "Hello 1"
echo "Goodbye"
"""
    )
    executor = run.LocalExecutor()
    with run.Experiment("script_example") as exp:
        exp.add(script, executor=executor, tail_logs=True)
        exp.add(inline_script, executor=executor, tail_logs=True)
        exp.run(sequential=True)
