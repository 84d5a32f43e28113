"""Text of attachments, for search: bytes in, text out, no other I/O.

One module per family of formats (``pdf``, ``ooxml`` for DOCX/XLSX/PPTX, ``odf``,
``htmlpage``, ``plaintext`` for text and CSV, ``message`` for attached messages);
``detect`` picks one from an attachment's bytes, type and name; ``run`` reads a
message's attachments within the budgets of ``ExtractLimits`` (``budget``,
``safezip``, ``safexml`` hold them). The processor calls ``attachment_text`` in its
parse workers, between parsing and building the document.
"""

from inboxhub.extract.limits import ExtractLimits
from inboxhub.extract.pdf import load as warm_up
from inboxhub.extract.run import Extracted, attachment_text

__all__ = ["ExtractLimits", "Extracted", "attachment_text", "warm_up"]
