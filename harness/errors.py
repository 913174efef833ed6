"""User-facing errors. The CLI prints their message (no traceback) and exits with ``exit_code``."""


class RmbenchError(Exception):
    exit_code = 1


class UnknownNameError(RmbenchError, KeyError):
    """An unknown method / preset / suite / backbone name; the message lists close matches."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class ConfigError(RmbenchError, ValueError):
    exit_code = 2


class DataError(RmbenchError, ValueError):
    """Bad input data; the message names the file, the row and the field."""

    exit_code = 3

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None, field: str | None = None):
        where = ", ".join(p for p in (file, None if row is None else f"row {row}",
                                      None if field is None else f"field {field!r}") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.field = file, row, field


class TrainingError(RmbenchError, RuntimeError):
    exit_code = 4
