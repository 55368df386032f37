"""Cover artwork as relay stores it: whatever image was uploaded becomes a standard square JPEG.

An upload is sniffed by its bytes (never its name or declared type) and bounded before it is
decoded: at most ``max_bytes``, at most ``MAX_PIXELS`` pixels (a small file can declare a huge
image — a decompression bomb). It is turned upright by its EXIF orientation, flattened onto white
where transparent, cropped to its centre square and resized to ``SIZE`` x ``SIZE``, then saved as
a JPEG carrying no metadata at all (EXIF with the camera's GPS position, XMP, comments, ICC).
Decoding runs in a worker thread."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import anyio
from PIL import Image, ImageOps, UnidentifiedImageError

from relay.errors import BadUserInputError, PayloadTooLargeError

SIZE = 1000
MAX_PIXELS = 40_000_000  # e.g. 8000 x 5000: more than any camera's photo needs
FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
CONTENT_TYPE = "image/jpeg"
EXTENSION = "jpg"
_QUALITY = 88


@dataclass(frozen=True)
class Artwork:
    """A normalized cover: its JPEG bytes and the content-addressed key they are stored under."""

    data: bytes

    @cached_property
    def key(self) -> str:
        return f"{hashlib.sha256(self.data).hexdigest()}.{EXTENSION}"


def _normalize(path: Path) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=sorted(FORMATS)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise BadUserInputError(
                        f"artwork is {width}x{height} pixels; at most {MAX_PIXELS:,} pixels"
                    )
                image.load()
                upright = ImageOps.exif_transpose(image)
        except UnidentifiedImageError:
            raise BadUserInputError("artwork must be a JPEG, PNG, WebP or GIF image") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadUserInputError(f"artwork is larger than {MAX_PIXELS:,} pixels") from None
        except (OSError, ValueError, SyntaxError):  # truncated or corrupt image data
            raise BadUserInputError("artwork is not a readable image") from None
    if upright.mode in ("RGBA", "LA", "P", "PA"):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        upright = flat
    square = ImageOps.fit(upright.convert("RGB"), (SIZE, SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # A new image carries no info of the upload's: no EXIF, XMP, comment or ICC profile is saved.
    square.save(out, "JPEG", quality=_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


async def normalize_artwork(path: Path, size: int, *, max_bytes: int) -> Artwork:
    """The standard cover made from the image at ``path`` (``size`` bytes, as uploaded);
    ``BadUserInputError`` when it is not an image relay accepts."""
    if size > max_bytes:
        raise PayloadTooLargeError(max_bytes, what="artwork")
    if size == 0:
        raise BadUserInputError("artwork is empty")
    return Artwork(await anyio.to_thread.run_sync(_normalize, path))
