#!/usr/bin/python3
"""protogen — writes Sluice's Kafka message descriptions from Kafka's schemas.

Kafka describes every request and response in a JSON file (fields, types,
the versions each field exists in, nullable and tagged versions, defaults).
This script reads those files for the APIs and version ranges listed in
APIS below and writes, in Sluice's own format:

  broker/proto/schemas_gen.h   one C struct per message and nested struct,
                               holding every field of the described
                               versions, plus the descriptor declarations;
  broker/proto/schemas_gen.c   the descriptor tables (field name, offset,
                               type, version ranges, tag, default) that the
                               generic codec in broker/proto/codec.c walks.

The output is committed, so building Sluice never needs the schemas. Run it
again after changing APIS (or to move to another Kafka release):

  /usr/bin/python3 tools/protogen/protogen.py [--check] [SCHEMA_DIR]

--check writes nothing and exits 1 if the committed files differ from what
the schemas give (for CI or a pre-commit check). SCHEMA_DIR defaults to ../shared/spec/kafka-messages (relative to the
repository root). Python standard library only.
"""

import json
import os
import re
import sys

# The APIs we describe and the version range of each (request and response
# alike). The order here is the order of the generated tables.
APIS = [
    ("Produce", 3, 9),
    ("Fetch", 4, 12),
    ("ListOffsets", 0, 7),
    ("Metadata", 0, 12),
    ("OffsetCommit", 0, 8),
    ("OffsetFetch", 0, 8),
    ("FindCoordinator", 0, 4),
    ("JoinGroup", 0, 9),
    ("Heartbeat", 0, 4),
    ("LeaveGroup", 0, 5),
    ("SyncGroup", 0, 5),
    ("DescribeGroups", 0, 5),
    ("ListGroups", 0, 4),
    ("ApiVersions", 0, 3),
    ("CreateTopics", 0, 7),
    ("DeleteTopics", 0, 6),
    ("DeleteRecords", 0, 2),
    ("InitProducerId", 0, 4),
    ("OffsetForLeaderEpoch", 0, 4),
    ("DescribeConfigs", 0, 4),
    ("CreatePartitions", 0, 3),
    ("DeleteGroups", 0, 2),
    ("IncrementalAlterConfigs", 0, 1),
    ("OffsetDelete", 0, 0),
    ("DescribeCluster", 0, 1),
]

VMAX = 0x7FFF  # "N+" in a schema: every later version
# Deepest struct nesting the codec supports (broker/proto/proto.h,
# PROTO_NESTING_MAX); the generator refuses deeper schemas.
NESTING_MAX = 8

PRIMITIVES = {
    # schema type: (PROTO_* type, C type, min wire bytes)
    "bool": ("PROTO_BOOL", "bool", 1),
    "int8": ("PROTO_INT8", "int8_t", 1),
    "int16": ("PROTO_INT16", "int16_t", 2),
    "uint16": ("PROTO_UINT16", "uint16_t", 2),
    "int32": ("PROTO_INT32", "int32_t", 4),
    "uint32": ("PROTO_UINT32", "uint32_t", 4),
    "int64": ("PROTO_INT64", "int64_t", 8),
    "float64": ("PROTO_FLOAT64", "double", 8),
    "uuid": ("PROTO_UUID", "proto_uuid", 16),
    "string": ("PROTO_STRING", "proto_str", 1),
    "bytes": ("PROTO_BYTES", "proto_bytes", 1),
    "records": ("PROTO_RECORDS", "proto_bytes", 1),
}
PRIMITIVE_ARRAYS = {
    "bool": "proto_bool_array",
    "int8": "proto_int8_array",
    "int16": "proto_int16_array",
    "uint16": "proto_uint16_array",
    "int32": "proto_int32_array",
    "uint32": "proto_uint32_array",
    "int64": "proto_int64_array",
    "float64": "proto_float64_array",
    "uuid": "proto_uuid_array",
    "string": "proto_str_array",
    "bytes": "proto_bytes_array",
}
C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if",
    "inline", "int", "long", "register", "restrict", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
    "unsigned", "void", "volatile", "while", "bool", "true", "false",
}


class SchemaError(Exception):
    pass


def strip_comments(text):
    """Drops // line comments outside strings (Kafka's files carry a
    license header and the odd note as comments, which JSON forbids)."""
    out = []
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
            continue
        if c == '"':
            in_str = True
            out.append(c)
            i += 1
            continue
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            while i < n and text[i] != "\n":
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_versions(s, what):
    """'3+' -> (3, VMAX); '1-4' -> (1, 4); '2' -> (2, 2); 'none' -> None."""
    if s is None or s == "none":
        return None
    s = s.strip()
    m = re.fullmatch(r"(\d+)\+", s)
    if m:
        return (int(m.group(1)), VMAX)
    m = re.fullmatch(r"(\d+)-(\d+)", s)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            raise SchemaError("%s: empty version range %r" % (what, s))
        return (lo, hi)
    m = re.fullmatch(r"\d+", s)
    if m:
        return (int(s), int(s))
    raise SchemaError("%s: bad version range %r" % (what, s))


def intersects(r, lo, hi):
    return r is not None and r[0] <= hi and r[1] >= lo


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = s.lower()
    if s in C_KEYWORDS:
        s += "_"
    return s


def vr(r):
    if r is None:
        return "PROTO_VNONE"
    hi = "PROTO_VMAX" if r[1] == VMAX else str(r[1])
    return "{%d, %s}" % (r[0], hi)


def vr_comment(r):
    if r is None:
        return "never"
    if r[1] == VMAX:
        return "v%d+" % r[0]
    if r[0] == r[1]:
        return "v%d" % r[0]
    return "v%d-%d" % (r[0], r[1])


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Struct:
    def __init__(self, cname):
        self.cname = cname
        self.fields = []  # list of Field
        self.depth = 1


class Field:
    pass


class Message:
    pass


def build_struct(msg, cname, jfields, lo, hi, what, depth, registry):
    if depth > NESTING_MAX:
        raise SchemaError("%s: nesting deeper than %d" % (what, NESTING_MAX))
    st = Struct(cname)
    st.depth = 1
    seen_tags = set()
    for jf in jfields:
        fname = jf["name"]
        fwhat = "%s.%s" % (what, fname)
        versions = parse_versions(jf.get("versions"), fwhat)
        if versions is None:
            raise SchemaError("%s: no versions" % fwhat)
        if not intersects(versions, lo, hi):
            continue
        if "flexibleVersions" in jf:
            raise SchemaError("%s: per-field flexibleVersions is not supported"
                              % fwhat)
        f = Field()
        f.name = snake(fname)
        f.versions = versions
        f.nullable = parse_versions(jf.get("nullableVersions"), fwhat)
        f.tagged = parse_versions(jf.get("taggedVersions"), fwhat)
        f.tag = jf.get("tag", -1)
        if f.tagged is not None and (not isinstance(f.tag, int) or f.tag < 0):
            raise SchemaError("%s: tagged without a tag" % fwhat)
        if f.tagged is not None:
            if f.tag in seen_tags:
                raise SchemaError("%s: duplicate tag %d" % (fwhat, f.tag))
            seen_tags.add(f.tag)
        jtype = jf["type"]
        f.is_array = jtype.startswith("[]")
        base = jtype[2:] if f.is_array else jtype
        f.sub = None
        default = jf.get("default")
        if isinstance(default, bool):
            default = "true" if default else "false"
        elif default is not None and not isinstance(default, str):
            default = str(default)
        f.default_null = False
        f.default_int = "0"
        f.default_float = "0.0"
        f.default_str = None
        if base in PRIMITIVES:
            if "fields" in jf:
                raise SchemaError("%s: primitive with fields" % fwhat)
            f.ptype, ctype, _ = PRIMITIVES[base]
            if f.is_array:
                if base == "records":
                    raise SchemaError("%s: array of records" % fwhat)
                f.ctype = PRIMITIVE_ARRAYS[base]
            else:
                f.ctype = ctype
        else:
            if "fields" not in jf:
                raise SchemaError("%s: struct type %s has no inline fields "
                                  "(commonStructs are not supported)"
                                  % (fwhat, base))
            sub_cname = struct_cname(msg, base)
            if sub_cname in registry:
                raise SchemaError("%s: struct name %s used twice"
                                  % (fwhat, sub_cname))
            registry[sub_cname] = None
            sub = build_struct(msg, sub_cname, jf["fields"], lo, hi, fwhat,
                               depth + 1, registry)
            registry[sub_cname] = sub
            st.depth = max(st.depth, sub.depth + 1)
            f.sub = sub
            f.ptype = "PROTO_STRUCT"
            f.ctype = sub_cname + "_array" if f.is_array else sub_cname
            msg.structs.append(sub)
        # Defaults, in the forms Kafka's generator accepts.
        if default is not None:
            if default == "null":
                if f.nullable is None:
                    raise SchemaError("%s: null default, not nullable" % fwhat)
                f.default_null = True
            elif f.is_array or f.sub is not None:
                raise SchemaError("%s: unsupported default %r" % (fwhat, default))
            elif base == "bool":
                if default not in ("true", "false"):
                    raise SchemaError("%s: bad bool default" % fwhat)
                f.default_int = "1" if default == "true" else "0"
            elif base in ("int8", "int16", "uint16", "int32", "uint32",
                          "int64"):
                f.default_int = str(int(default, 0))
                if int(default, 0) == -(2**63):
                    f.default_int = "INT64_MIN"
                elif int(default, 0) < -(2**31):
                    f.default_int = "INT64_C(%s)" % f.default_int
            elif base == "float64":
                f.default_float = repr(float(default))
            elif base == "string":
                f.default_str = default
            else:
                raise SchemaError("%s: unsupported default %r for %s"
                                  % (fwhat, default, base))
        elif base == "records" and not f.is_array:
            # Kafka's generated code defaults records to null.
            f.default_null = f.nullable is not None
        if base == "string" and not f.is_array and not f.default_null \
                and f.default_str is None:
            f.default_str = ""
        st.fields.append(f)
    return st


def struct_cname(msg, type_name):
    prefix = msg.name
    rest = type_name[len(prefix):] if type_name.startswith(prefix) and \
        len(type_name) > len(prefix) else type_name
    return "%s_%s" % (msg.cname, snake(rest).rstrip("_"))


def load_message(schema_dir, api, kind, lo, hi):
    path = os.path.join(schema_dir, "%s%s.json" % (api, kind))
    with open(path, encoding="utf-8") as fh:
        j = json.loads(strip_comments(fh.read()))
    msg = Message()
    msg.name = j["name"]
    msg.api_key = j["apiKey"]
    msg.is_response = j["type"] == "response"
    msg.valid = parse_versions(j["validVersions"], msg.name)
    if msg.valid is None or lo < msg.valid[0] or hi > msg.valid[1]:
        raise SchemaError("%s: %d-%d outside validVersions %s"
                          % (msg.name, lo, hi, j["validVersions"]))
    msg.flexible = parse_versions(j.get("flexibleVersions"), msg.name)
    if msg.flexible is not None and msg.flexible[1] != VMAX:
        raise SchemaError("%s: flexible versions must be open-ended" % msg.name)
    msg.lo, msg.hi = lo, hi
    msg.cname = "proto_%s_%s" % (snake(api), "resp" if msg.is_response
                                 else "req")
    msg.structs = []
    registry = {}
    body = build_struct(msg, msg.cname, j["fields"], lo, hi, msg.name, 1,
                        registry)
    msg.structs.append(body)
    msg.body = body
    return msg


def emit_header(msgs, out):
    w = out.append
    w("/*\n * schemas_gen.h — GENERATED by tools/protogen/protogen.py from "
      "Kafka 3.7's\n * message schemas. Do not edit: change the generator "
      "or its API list and\n * run\n *   /usr/bin/python3 "
      "tools/protogen/protogen.py [SCHEMA_DIR]\n *\n"
      " * One C struct per message and per nested struct, holding every "
      "field of\n * the described versions (the comment after a field gives "
      "the versions it\n * is sent in; a field outside the message's version "
      "keeps its default).\n * Types and the codec are documented in "
      "broker/proto/proto.h.\n */\n")
    w("/* clang-format off */\n")
    w("#ifndef SLUICE_BROKER_PROTO_SCHEMAS_GEN_H\n"
      "#define SLUICE_BROKER_PROTO_SCHEMAS_GEN_H\n\n"
      "/* Included by broker/proto/proto.h, after the codec types. */\n\n")
    w("/* API keys of the described APIs. */\nenum proto_api_key {\n")
    for m in msgs:
        if not m.is_response:
            w("  PROTO_API_%s = %d,\n" % (snake(m.api).upper(), m.api_key))
    w("};\n\n")
    w("/* Deepest struct nesting in the described messages (a message body "
      "is 1). */\n#define PROTO__SCHEMA_DEPTH %d\n\n"
      % max(m.body.depth for m in msgs))
    for m in msgs:
        w("/* ---- %s (api key %d, versions %d-%d, flexible %s) ---- */\n\n"
          % (m.name, m.api_key, m.lo, m.hi, vr_comment(m.flexible)))
        for st in m.structs:
            w("typedef struct %s {\n" % st.cname)
            if not st.fields:
                w("  char unused_; /* no field in the described versions */\n")
            for f in st.fields:
                notes = [vr_comment(f.versions)]
                if f.nullable is not None:
                    notes.append("nullable " + vr_comment(f.nullable))
                if f.tagged is not None:
                    notes.append("tag %d %s" % (f.tag, vr_comment(f.tagged)))
                w("  %s %s; /* %s */\n" % (f.ctype, f.name, ", ".join(notes)))
            w("} %s;\n" % st.cname)
            if st is not m.body:
                w("typedef struct %s_array {\n  %s *items;\n  int32_t count;"
                  "\n} %s_array;\n" % (st.cname, st.cname, st.cname))
            w("extern const proto_struct %s_desc;\n\n" % st.cname)
        w("extern const proto_message %s_msg;\n\n" % m.cname)
    w("#endif\n")


def emit_fields(st, out):
    w = out.append
    if not st.fields:
        w("static const proto_field %s__fields[1] = {{0}};\n" % st.cname)
        return
    w("static const proto_field %s__fields[] = {\n" % st.cname)
    for f in st.fields:
        parts = [
            ".name = %s" % c_string(f.name),
            ".offset = offsetof(%s, %s)" % (st.cname, f.name),
            ".type = %s" % f.ptype,
            ".is_array = %s" % ("true" if f.is_array else "false"),
            ".versions = %s" % vr(f.versions),
            ".nullable = %s" % vr(f.nullable),
            ".tagged = %s" % vr(f.tagged),
            ".tag = %d" % (f.tag if f.tagged is not None else -1),
        ]
        if f.sub is not None:
            parts.append(".sub = &%s_desc" % f.sub.cname)
        if f.default_null:
            parts.append(".default_null = true")
        if f.default_int != "0":
            parts.append(".default_int = %s" % f.default_int)
        if f.default_float not in ("0.0", "0"):
            parts.append(".default_float = %s" % f.default_float)
        if f.default_str is not None:
            parts.append(".default_str = %s" % c_string(f.default_str))
        w("    {" + ",\n     ".join(parts) + "},\n")
    w("};\n")


def emit_source(msgs, out):
    w = out.append
    w("/*\n * schemas_gen.c — GENERATED by tools/protogen/protogen.py from "
      "Kafka 3.7's\n * message schemas. Do not edit: change the generator "
      "or its API list and\n * run\n *   /usr/bin/python3 "
      "tools/protogen/protogen.py [SCHEMA_DIR]\n *\n"
      " * Descriptor tables for the generic codec (broker/proto/codec.c).\n"
      " */\n")
    w("/* clang-format off */\n")
    w('#include <stddef.h>\n\n#include "broker/proto/proto.h"\n'
      '#include "broker/proto/proto_internal.h"\n\n')
    w("_Static_assert(PROTO__SCHEMA_DEPTH <= PROTO_NESTING_MAX,\n"
      "               \"schemas nest deeper than the codec allows\");\n\n")
    for m in msgs:
        for st in m.structs:
            emit_fields(st, out)
            n = len(st.fields)
            w("const proto_struct %s_desc = {\n    .name = %s,\n"
              "    .size = sizeof(%s),\n    .fields = %s__fields,\n"
              "    .field_count = %d,\n};\n\n"
              % (st.cname, c_string(st.cname), st.cname, st.cname, n))
        w("const proto_message %s_msg = {\n    .name = %s,\n"
          "    .api_key = %d,\n    .is_response = %s,\n"
          "    .versions = {%d, %d},\n    .flexible_min = %s,\n"
          "    .body = &%s_desc,\n};\n\n"
          % (m.cname, c_string(m.name), m.api_key,
             "true" if m.is_response else "false", m.lo, m.hi,
             str(m.flexible[0]) if m.flexible else "PROTO_VMAX", m.cname))
    keys = sorted({m.api_key for m in msgs})
    w("/* Indexed by API key; NULL where the API is not described. */\n")
    w("const proto_message *const proto__requests[PROTO__API_KEY_LIMIT] = {\n")
    for m in sorted((m for m in msgs if not m.is_response),
                    key=lambda m: m.api_key):
        w("    [%d] = &%s_msg,\n" % (m.api_key, m.cname))
    w("};\n\n")
    w("const proto_message *const proto__responses[PROTO__API_KEY_LIMIT] = {\n")
    for m in sorted((m for m in msgs if m.is_response),
                    key=lambda m: m.api_key):
        w("    [%d] = &%s_msg,\n" % (m.api_key, m.cname))
    w("};\n\n")
    w("/* (api key, min, max) of every described API, by key. */\n")
    w("const proto_api_range proto__api_ranges[] = {\n")
    for k in keys:
        m = next(m for m in msgs if m.api_key == k and not m.is_response)
        w("    {%d, %d, %d}, /* %s */\n" % (k, m.lo, m.hi, m.api))
    w("};\nconst size_t proto__api_range_count = %d;\n" % len(keys))


def main(argv):
    root = os.path.normpath(os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", ".."))
    args = argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    schema_dir = args[0] if args else os.path.join(
        root, "..", "shared", "spec", "kafka-messages")
    msgs = []
    for api, lo, hi in APIS:
        for kind in ("Request", "Response"):
            m = load_message(schema_dir, api, kind, lo, hi)
            m.api = api
            msgs.append(m)
        if msgs[-1].api_key != msgs[-2].api_key:
            raise SchemaError("%s: request and response keys differ" % api)
    if max(m.api_key for m in msgs) >= 128:
        raise SchemaError("api key beyond PROTO__API_KEY_LIMIT")
    names = {}
    for m in msgs:
        for st in m.structs:
            if st.cname in names:
                raise SchemaError("C name %s generated twice" % st.cname)
            names[st.cname] = m.name
    h, c = [], []
    emit_header(msgs, h)
    emit_source(msgs, c)
    outdir = os.path.join(root, "broker", "proto")
    stale = 0
    for name, text in (("schemas_gen.h", h), ("schemas_gen.c", c)):
        path = os.path.join(outdir, name)
        if check:
            try:
                with open(path, encoding="utf-8") as fh:
                    same = fh.read() == "".join(text)
            except OSError:
                same = False
            if not same:
                print("stale: %s (run tools/protogen/protogen.py)"
                      % os.path.relpath(path, root))
                stale += 1
            continue
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("".join(text))
        os.replace(tmp, path)
        print("wrote %s" % os.path.relpath(path, root))
    if check and not stale:
        print("protogen: generated files are up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (SchemaError, OSError, ValueError, KeyError) as e:
        sys.stderr.write("protogen: %s\n" % e)
        sys.exit(1)
