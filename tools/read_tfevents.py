#!/usr/bin/python3
"""Reads a TensorBoard event file the way TensorBoard's own loader does (TFRecord framing: uint64 length, masked
CRC-32C of the length, data, masked CRC-32C of the data; each record an `Event` protobuf), with no dependency: the
CRC-32C is computed bit by bit from its definition (Castagnoli polynomial, reflected 0x82F63B78; RFC 3720 §B.4), the
mask is TensorFlow's (crc >> 15 | crc << 17) + 0xa282ead8, and the protobuf wire format is decoded by hand for the
fields TensorBoard's scalar dashboard reads (tensorflow/core/util/event.proto, summary.proto):

  Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; SessionLog session_log = 6; }
  Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
  SessionLog { SessionStatus status = 1; }

Usage: /usr/bin/python3 tools/read_tfevents.py EVENT_FILE   → prints one JSON list of events; exits 1 on any bad CRC,
truncated record or malformed protobuf. Used by TensorBoardTests (SoCo.NET writes these files by hand).
"""
import json
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


def varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf):
    """Yields (field number, wire type, value) of one message; value: int, bytes, or raw fixed bytes."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if i > len(buf):
            raise ValueError("field runs past the end of its message")
        yield field, wire, v


def event(buf):
    e = {}
    for f, w, v in fields(buf):
        if f == 1 and w == 1:
            e["wall_time"] = struct.unpack("<d", v)[0]
        elif f == 2 and w == 0:
            e["step"] = v
        elif f == 3 and w == 2:
            e["file_version"] = v.decode()
        elif f == 5 and w == 2:
            values = e.setdefault("scalars", [])
            for vf, vw, vv in fields(v):
                if vf == 1 and vw == 2:
                    tag, val = None, None
                    for xf, xw, xv in fields(vv):
                        if xf == 1 and xw == 2:
                            tag = xv.decode()
                        elif xf == 2 and xw == 5:
                            val = struct.unpack("<f", xv)[0]
                    values.append([tag, val])
        elif f == 6 and w == 2:
            e["session_log_status"] = next((sv for sf, sw, sv in fields(v) if sf == 1 and sw == 0), 0)
    return e


def main(path):
    data = open(path, "rb").read()
    events, i = [], 0
    while i < len(data):
        if i + 12 > len(data):
            raise ValueError(f"truncated record header at byte {i}")
        header = data[i:i + 8]
        (length,) = struct.unpack("<Q", header)
        (crc_len,) = struct.unpack("<I", data[i + 8:i + 12])
        if crc_len != masked(header):
            raise ValueError(f"bad length CRC at byte {i}")
        body = data[i + 12:i + 12 + length]
        if len(body) != length or i + 16 + length > len(data):
            raise ValueError(f"truncated record at byte {i}")
        (crc_body,) = struct.unpack("<I", data[i + 12 + length:i + 16 + length])
        if crc_body != masked(body):
            raise ValueError(f"bad data CRC at byte {i}")
        events.append(event(body))
        i += 16 + length
    print(json.dumps(events))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
