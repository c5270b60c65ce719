"""``python -m kuberun.cli``: the ``kuberun`` command line (``kuberun.console``), under its old module path."""

from kuberun.console import main

if __name__ == "__main__":
    main()
