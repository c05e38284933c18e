"""``python -m linestream``: the command line."""

from linestream.cli import main

if __name__ == "__main__":
    main()
