"""Every bit depth and pixel format decodes to the 8-bit values of one documented rule (``pixels``), checked
value by value through ``iter_frames`` (the one path frame folders and videos take)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.video.decode import iter_frames

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

# Every 16-bit value class: 0, the top, values that round up and down at /257, and the 32768.
SIXTEEN = np.array([0, 128, 129, 1000, 32767, 32768, 32968, 65278, 65535], np.uint16)


def expected16(values: np.ndarray) -> np.ndarray:
    return np.rint(values / 257).astype(np.uint8)


def only_frame(path: Path) -> np.ndarray:
    frames = list(iter_frames(path, fps=None))
    assert len(frames) == 1 and frames[0].dtype == np.uint8 and frames[0].shape[-1] == 3
    return frames[0]


def folder(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "frames"
    path.mkdir(exist_ok=True)
    return path / name


def grey16() -> np.ndarray:
    return np.tile(SIXTEEN, (4, 1))  # (4, 9)


def rgb16() -> np.ndarray:
    values = np.stack([SIXTEEN, SIXTEEN[::-1], np.roll(SIXTEEN, 3)], axis=-1)
    return np.tile(values[None], (4, 1, 1))  # (4, 9, 3)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_grey_is_scaled_by_257_not_clipped_to_white(tmp_path, suffix):
    Image.fromarray(grey16()).save(folder(tmp_path, f"1{suffix}"))
    frame = only_frame(tmp_path / "frames")
    np.testing.assert_array_equal(frame, np.repeat(expected16(grey16())[..., None], 3, axis=-1))
    assert frame[0, 5].tolist() == [128, 128, 128]  # the 32768: mid grey, not white


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_16_bit_rgb_and_rgba_are_rounded_not_cut_to_the_top_byte(tmp_path, suffix):
    cv2 = pytest.importorskip("cv2")
    values = rgb16()
    alpha = np.full((*values.shape[:2], 1), 1234, np.uint16)
    cv2.imwrite(str(folder(tmp_path, f"1{suffix}")), values[..., ::-1])  # OpenCV writes BGR
    np.testing.assert_array_equal(only_frame(tmp_path / "frames"), expected16(values))
    cv2.imwrite(str(folder(tmp_path, f"1{suffix}")), np.concatenate([values[..., ::-1], alpha], axis=-1))
    np.testing.assert_array_equal(only_frame(tmp_path / "frames"), expected16(values))  # alpha dropped


def test_palette_grey_alpha_and_rgba_keep_their_colours_and_drop_alpha(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 5, 3), np.uint8)
    alpha = rng.integers(0, 256, (6, 5), np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(folder(tmp_path, "1.png"))
    np.testing.assert_array_equal(only_frame(tmp_path / "frames"), rgb)  # alpha 0 keeps its colour too

    grey = rgb[..., 0]
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(folder(tmp_path, "1.png"))
    np.testing.assert_array_equal(only_frame(tmp_path / "frames"), np.repeat(grey[..., None], 3, axis=-1))

    palette = np.array([[10, 20, 30], [200, 100, 50], [0, 255, 7]], np.uint8)
    indices = rng.integers(0, 3, (6, 5), np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.reshape(-1).tolist())
    image.info["transparency"] = 1  # a transparent palette entry keeps its colour
    image.save(folder(tmp_path, "1.png"), transparency=1)
    np.testing.assert_array_equal(only_frame(tmp_path / "frames"), palette[indices])


def test_cmyk_jpeg_uses_the_uncalibrated_formula(tmp_path):
    cmyk = np.zeros((16, 16, 4), np.uint8)
    cmyk[:8] = (0, 128, 255, 64)
    cmyk[8:] = (200, 0, 30, 0)
    Image.fromarray(cmyk, "CMYK").save(folder(tmp_path, "1.jpg"), quality=100)
    c, m, y, k = (cmyk[..., i].astype(float) for i in range(4))
    want = np.stack([(255 - c) * (255 - k) / 255, (255 - m) * (255 - k) / 255, (255 - y) * (255 - k) / 255], -1)
    got = only_frame(tmp_path / "frames")
    assert np.abs(got.astype(float) - want)[2:6].max() <= 3  # JPEG rounding, away from the block edge
    assert np.abs(got.astype(float) - want)[10:14].max() <= 3


def test_float_images_are_refused_with_the_file_named(tmp_path):
    Image.fromarray(np.full((4, 4), 0.5, np.float32), "F").save(folder(tmp_path, "1.tif"))
    with pytest.raises(ConversionError, match=r"1\.tif: 32-bit float image"):
        only_frame(tmp_path / "frames")


def write_ffv1(path: Path, pix_fmt: str, frame) -> Path:
    """One lossless FFV1 frame (PyAV's FFmpeg stores 9..16-bit grey, YUV and RGB in it)."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, pix_fmt
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize(("pix_fmt", "bits"), [("gray10le", 10), ("gray12le", 12), ("gray16le", 16)])
def test_high_bit_depth_grey_video_is_scaled_by_its_full_range(tmp_path, pix_fmt, bits):
    av = pytest.importorskip("av")
    top = (1 << bits) - 1
    values = np.tile(np.array([0, 1, 2, top // 3, top // 2, top // 2 + 1, top - 2, top], np.uint16), (4, 1))
    path = write_ffv1(tmp_path / "a.mkv", pix_fmt, av.VideoFrame.from_ndarray(values, format=pix_fmt))
    want = np.rint(values.astype(float) * 255 / top).astype(np.uint8)
    np.testing.assert_array_equal(only_frame(path), np.repeat(want[..., None], 3, axis=-1))


def test_48_bit_rgb_video_is_rounded_like_16_bit_images(tmp_path):
    av = pytest.importorskip("av")
    values = np.ascontiguousarray(rgb16()[:, :8])  # FFV1 wants an even width
    path = write_ffv1(tmp_path / "a.mkv", "rgb48le", av.VideoFrame.from_ndarray(values, format="rgb48le"))
    np.testing.assert_array_equal(only_frame(path), expected16(values))


def test_10_bit_yuv_video_matches_bt601_limited_range(tmp_path):
    av = pytest.importorskip("av")
    frame = av.VideoFrame(16, 16, "yuv420p10le")
    y, u, v = 600, 400, 700  # 10-bit limited range: Y 64..940, chroma 64..960 around 512
    for plane, value in zip(frame.planes, (y, u, v), strict=True):
        plane.update(np.full(plane.buffer_size // 2, value, np.uint16).tobytes())
    path = write_ffv1(tmp_path / "a.mkv", "yuv420p10le", frame)
    luma, cb, cr = (y - 64) / 876, (u - 512) / 896, (v - 512) / 896
    want = np.array([luma + 1.402 * cr, luma - 0.344136 * cb - 0.714136 * cr, luma + 1.772 * cb]) * 255
    got = only_frame(path)
    assert np.ptp(got.reshape(-1, 3), axis=0).max() == 0  # a flat frame stays flat (no dithering)
    assert np.abs(got[0, 0] - want).max() <= 1.5, (got[0, 0], want)  # swscale's fixed-point matrix


def test_16_bit_grey_with_alpha_is_rounded_and_alpha_dropped(tmp_path):
    """Written by hand (Pillow writes no 16-bit grey + alpha): PNG colour type 4, bit depth 16."""
    pytest.importorskip("cv2")
    import struct
    import zlib

    grey = grey16()
    alpha = np.full(grey.shape, 7, np.uint16)
    rows = np.dstack([grey, alpha]).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", grey.shape[1], grey.shape[0], 16, 4, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    folder(tmp_path, "1.png").write_bytes(png)
    np.testing.assert_array_equal(only_frame(tmp_path / "frames"), np.repeat(expected16(grey)[..., None], 3, axis=-1))
