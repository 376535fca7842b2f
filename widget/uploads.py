"""Photos customers send in the widget (a broken item, a wrong parcel): checked by their
content, re-encoded and stored per session.

A photo is accepted only when its first bytes are those of a JPEG, PNG or WebP file, Pillow
decodes the whole of it within a pixel budget, nothing follows the image's end (a picture with
a ZIP or a web page appended is a polyglot) and it holds no markup. It is then decoded and
encoded again, turned upright, without EXIF or any other metadata (GPS position, camera
serial), as JPEG (PNG when it has transparency). The file name the browser gave is never
used: a photo is stored as `<session id>/<random id>.<jpg|png>` under the uploads folder.
"""
from __future__ import annotations

import io
import re
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000        # a 5 MB file that decodes to more is a decompression bomb
MAX_SIDE = 2560                # stored at most this wide or high
IMAGE_ID = re.compile(r"^[0-9a-f]{32}$")
MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}
MARKUP = re.compile(rb"<\s*(script|html|svg|body|iframe|\?php)|<!doctype", re.IGNORECASE)
MIME = {"jpg": "image/jpeg", "png": "image/png"}


class UploadError(ValueError):
    """A photo refused: HTTP status, code and a message the customer can read."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Keep what the client is told."""
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Photo:
    """A checked, re-encoded photo."""

    data: bytes
    extension: str  # jpg | png
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    """The image format by the file's first bytes (never by its name or declared type)."""
    for magic, kind in MAGIC.items():
        if data.startswith(magic):
            return kind
    if len(data) > 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _ends_cleanly(data: bytes, kind: str) -> bool:
    """Nothing after the image's own end (trailing NUL or newline padding aside)."""
    body = data.rstrip(b"\x00\r\n")
    if kind == "JPEG":
        return body.endswith(b"\xff\xd9")
    if kind == "PNG":
        return body.endswith(b"IEND\xaeB`\x82")
    return int.from_bytes(data[4:8], "little") + 8 in (len(data), len(data) - 1)


def check_photo(data: bytes) -> Photo:
    """Check and re-encode an uploaded photo; raises UploadError (413 or 415 or 400)."""
    if len(data) > MAX_BYTES:
        raise UploadError(413, "photo_too_large", "图片不能超过 5 MB，请压缩后再发。")
    kind = sniff(data)
    if kind is None:
        raise UploadError(415, "not_a_photo", "只能发送 JPG、PNG 或 WebP 格式的图片。")
    if not _ends_cleanly(data, kind) or MARKUP.search(data):
        raise UploadError(400, "suspicious_photo", "这张图片无法识别，请换一张照片再试。")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as probe:
                probe.verify()  # the whole file, structure and checksums
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise UploadError(413, "photo_too_large", "图片尺寸太大，请缩小后再发。")
                image.load()
                upright = ImageOps.exif_transpose(image)
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UploadError(413, "photo_too_large", "图片尺寸太大，请缩小后再发。") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise UploadError(400, "broken_photo", "这张图片无法识别，请换一张照片再试。") from error
    return _reencode(upright)


def _reencode(image: Image.Image) -> Photo:
    """Encode again from the pixels alone: no EXIF, ICC, XMP or comments survive."""
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    transparent = image.mode in ("RGBA", "LA") or "transparency" in image.info
    pixels = image.convert("RGBA" if transparent else "RGB")
    clean = Image.new(pixels.mode, pixels.size)
    clean.paste(pixels)
    out = io.BytesIO()
    if transparent:
        clean.save(out, "PNG", optimize=True)
    else:
        clean.save(out, "JPEG", quality=85, optimize=True)
    return Photo(out.getvalue(), "png" if transparent else "jpg", clean.width, clean.height)


class PhotoStore:
    """Photos on disk, one folder per session; ids are random, names never come from users."""

    def __init__(self, folder: str | Path) -> None:
        """Create the folder if needed."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def save(self, session_id: str, photo: Photo) -> str:
        """Store a checked photo; returns its id."""
        image_id = secrets.token_hex(16)
        target = self.folder / session_id
        target.mkdir(exist_ok=True)
        (target / f"{image_id}.{photo.extension}").write_bytes(photo.data)
        return image_id

    def load(self, session_id: str, image_id: str) -> tuple[bytes, str] | None:
        """(bytes, MIME type) of a session's photo, or None; ids are checked first, so no
        path can leave the session's folder."""
        if not IMAGE_ID.match(image_id) or not re.fullmatch(r"[0-9a-f]{32}", session_id):
            return None
        for extension, mime in MIME.items():
            path = self.folder / session_id / f"{image_id}.{extension}"
            if path.is_file():
                return path.read_bytes(), mime
        return None
