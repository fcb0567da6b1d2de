"""`python -m assistant` is the same as the `mmn-assistant` command."""

from assistant.cli import main

main()
