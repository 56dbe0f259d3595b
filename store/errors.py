"""The one error users of the store see: a single line that says what to fix."""


class StoreError(Exception):
    pass
