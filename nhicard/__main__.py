"""``python -m nhicard``: the same entry as the ``nhicard`` command."""

from nhicard.cli.main import run

if __name__ == "__main__":
    run()
