"""``python -m kuberun.cli``: the ``kuberun`` command line (``kuberun.commandline``), under its old module path."""

from kuberun.commandline import main

if __name__ == "__main__":
    main()
