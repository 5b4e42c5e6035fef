"""Runnable counterparts of the code in ``docs/guides/inter-process-communication.md``.

Each module has an ``async def main()`` returning what it did (the test suite asserts on it)
and runs on its own with ``python -m examples.ipc.<module>``. Regions between
``# --8<-- [start:NAME]`` and ``# --8<-- [end:NAME]`` are included verbatim in the guide;
``tests/test_docs_snippets.py`` keeps the two in step.
"""
