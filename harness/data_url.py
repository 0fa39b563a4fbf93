"""Images as ``data:`` URLs for OpenAI-compatible chat requests (the served model and the judge)."""

from __future__ import annotations

import base64
import io


def image_data_url(image) -> str:
    """A PIL image as a base64 PNG ``data:`` URL (lossless, so a cache key over it is stable)."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
