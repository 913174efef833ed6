"""One module per benchmark family, each turning numbered source rows into canonical rows
(:mod:`harness.data.rows`) and declaring its formats (``FORMATS``), which :mod:`harness.data.formats` registers."""
