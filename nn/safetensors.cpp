// safetensors reading and writing: a small JSON reader and writer for the header (only
// what the format needs: objects, arrays, strings, integers; no floats, booleans or null),
// the checks that turn a header into tensor entries, and the atomic write.
#include "nn/safetensors.h"


#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <utility>

#include "datasets/atomic_file.h"
#include "tensor/error.h"

// Tensor memory is written and read as is, so the host must be little-endian like the format.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O assumes a little-endian host");

namespace vdm {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;        // larger means "not a safetensors file"
constexpr uint64_t kMaxTensorBytes = uint64_t(1) << 62;  // keeps size arithmetic exact
constexpr int kMaxJsonDepth = 16;  // a header nests 3 deep; the limit bounds the recursion
const char* const kMetadataKey = "__metadata__";

struct FileCloser {
    void operator()(FILE* file) const { std::fclose(file); }
};

// ---- JSON ------------------------------------------------------------------------------

struct JsonValue {
    enum class Kind { Object, Array, String, Integer };
    Kind kind = Kind::Integer;
    std::string string;             // String
    int64_t integer = 0;            // Integer
    std::vector<JsonValue> items;   // Array elements, or Object values
    std::vector<std::string> keys;  // Object keys, parallel to items, in text order
};

// Recursive-descent reader of one JSON document. Errors name the file and the byte.
class JsonReader {
public:
    JsonReader(const std::string& path, const std::string& text) : path_(path), text_(text) {}

    // One value followed only by whitespace (the format pads the header with spaces).
    JsonValue read_document() {
        JsonValue value = read_value(0);
        skip_whitespace();
        if (pos_ != text_.size()) error("unexpected " + describe(text_[pos_]) + " after the end");
        return value;
    }

private:
    JsonValue read_value(int depth) {
        if (depth > kMaxJsonDepth)
            error("nested more than " + std::to_string(kMaxJsonDepth) + " deep");
        skip_whitespace();
        if (pos_ == text_.size()) error("unexpected end of header");
        char c = text_[pos_];
        if (c == '{') return read_object(depth);
        if (c == '[') return read_array(depth);
        JsonValue value;
        if (c == '"') {
            value.kind = JsonValue::Kind::String;
            value.string = read_string();
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            value.kind = JsonValue::Kind::Integer;
            value.integer = read_integer();
        } else {
            error("unexpected " + describe(c) + " where a value should start");
        }
        return value;
    }

    // {"key": value, ...}; a repeated key is an error (it would be a duplicate tensor).
    JsonValue read_object(int depth) {
        JsonValue object;
        object.kind = JsonValue::Kind::Object;
        expect('{');
        skip_whitespace();
        if (peek() == '}') {
            ++pos_;
            return object;
        }
        std::set<std::string> seen;
        while (true) {
            skip_whitespace();
            if (peek() != '"') error("expected a quoted key");
            std::string key = read_string();
            if (!seen.insert(key).second) error("duplicate key '" + key + "'");
            skip_whitespace();
            expect(':');
            object.keys.push_back(std::move(key));
            object.items.push_back(read_value(depth + 1));
            skip_whitespace();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect('}');
            return object;
        }
    }

    // [value, ...]
    JsonValue read_array(int depth) {
        JsonValue array;
        array.kind = JsonValue::Kind::Array;
        expect('[');
        skip_whitespace();
        if (peek() == ']') {
            ++pos_;
            return array;
        }
        while (true) {
            array.items.push_back(read_value(depth + 1));
            skip_whitespace();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect(']');
            return array;
        }
    }

    // "text" with the escapes \" \\ \/ \b \f \n \r \t and \uXXXX (ASCII code points only).
    std::string read_string() {
        expect('"');
        std::string out;
        while (true) {
            if (pos_ == text_.size()) error("unterminated string");
            char c = text_[pos_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) error("raw control character in a string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ == text_.size()) error("unterminated string");
            char escape = text_[pos_++];
            switch (escape) {
                case '"':
                case '\\':
                case '/': out += escape; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': out += read_ascii_code_point(); break;
                default: error("unknown escape \\" + std::string(1, escape));
            }
        }
    }

    // The XXXX of \uXXXX, limited to 0000..007F.
    char read_ascii_code_point() {
        if (text_.size() - pos_ < 4) error("unterminated \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
            char h = text_[pos_++];
            unsigned digit = h >= '0' && h <= '9'   ? unsigned(h - '0')
                             : h >= 'a' && h <= 'f' ? unsigned(h - 'a' + 10)
                             : h >= 'A' && h <= 'F' ? unsigned(h - 'A' + 10)
                                                    : 16;
            if (digit == 16) error("bad hex digit " + describe(h) + " in a \\u escape");
            code = code * 16 + digit;
        }
        if (code > 0x7F) error("\\u escape above \\u007f (only ASCII escapes are supported)");
        return char(code);
    }

    // An optional minus sign and decimal digits; fractions and exponents are refused.
    int64_t read_integer() {
        bool negative = peek() == '-';
        if (negative) ++pos_;
        size_t first_digit = pos_;
        uint64_t magnitude = 0;
        while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
            unsigned digit = unsigned(text_[pos_++] - '0');
            if (magnitude > (uint64_t(INT64_MAX) - digit) / 10) error("integer too large");
            magnitude = magnitude * 10 + digit;
        }
        if (pos_ == first_digit) error("expected digits after '-'");
        if (text_[first_digit] == '0' && pos_ - first_digit > 1)
            error("integer with a leading zero");
        char next = peek();
        if (next == '.' || next == 'e' || next == 'E') error("only integers are supported");
        return negative ? -int64_t(magnitude) : int64_t(magnitude);
    }

    void skip_whitespace() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }

    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

    void expect(char c) {
        if (pos_ == text_.size()) error(std::string("expected '") + c + "' but the header ends");
        if (text_[pos_] != c)
            error(std::string("expected '") + c + "', found " + describe(text_[pos_]));
        ++pos_;
    }

    // 'x' for printable characters, byte 0xNN otherwise (keeps the message on one line).
    static std::string describe(char c) {
        auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7F) return std::string("'") + c + "'";
        const char* hex = "0123456789abcdef";
        return std::string("byte 0x") + hex[byte >> 4] + hex[byte & 15];
    }

    [[noreturn]] void error(const std::string& what) const {
        fail(path_, ": invalid JSON header at byte ", pos_, ": ", what);
    }

    const std::string& path_;
    const std::string& text_;
    size_t pos_ = 0;
};

// text as a JSON string literal: quotes, backslashes and control characters escaped,
// every other byte (UTF-8 included) copied.
std::string json_quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (auto byte = static_cast<unsigned char>(c); byte < 0x20) {
                    const char* hex = "0123456789abcdef";
                    out += std::string("\\u00") + hex[byte >> 4] + hex[byte & 15];
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

// ---- header <-> tensor entries -------------------------------------------------------

const char* safetensors_dtype(DType dtype) {
    switch (dtype) {
        case DType::F32: return "F32";
        case DType::F64: return "F64";
        case DType::I32: return "I32";
    }
    return "?";
}

// One tensor as the header describes it.
struct TensorEntry {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    uint64_t begin = 0, end = 0;  // data_offsets, relative to the data section
};

struct Header {
    std::vector<TensorEntry> entries;  // in header order
    std::map<std::string, std::string> metadata;
};

// The member called key of a JSON object, or nullptr.
const JsonValue* member(const JsonValue& object, const std::string& key) {
    for (size_t i = 0; i < object.keys.size(); ++i)
        if (object.keys[i] == key) return &object.items[i];
    return nullptr;
}

// {"dtype": ..., "shape": [...], "data_offsets": [begin, end]} -> TensorEntry.
TensorEntry parse_entry(const std::string& path, const std::string& name, const JsonValue& value) {
    auto entry_error = [&](const auto&... parts) {
        fail(path, ": tensor '", name, "': ", parts...);
    };
    if (value.kind != JsonValue::Kind::Object)
        entry_error("expected an object with dtype, shape and data_offsets");
    for (const std::string& key : value.keys)
        if (key != "dtype" && key != "shape" && key != "data_offsets")
            entry_error("unknown key '", key, "'");
    const JsonValue* dtype = member(value, "dtype");
    const JsonValue* shape = member(value, "shape");
    const JsonValue* offsets = member(value, "data_offsets");
    if (!dtype || !shape || !offsets) entry_error("missing dtype, shape or data_offsets");

    TensorEntry entry;
    entry.name = name;
    if (dtype->kind != JsonValue::Kind::String) entry_error("dtype is not a string");
    if (dtype->string == "F32")
        entry.dtype = DType::F32;
    else if (dtype->string == "F64")
        entry.dtype = DType::F64;
    else if (dtype->string == "I32")
        entry.dtype = DType::I32;
    else
        entry_error("unsupported dtype '", dtype->string, "' (supported: F32, F64, I32)");

    if (shape->kind != JsonValue::Kind::Array) entry_error("shape is not an array");
    if (shape->items.size() > size_t(Shape::kMaxDims))
        entry_error("shape has ", shape->items.size(), " dimensions, at most ", Shape::kMaxDims,
                    " are supported");
    uint64_t bytes = dtype_size(entry.dtype);
    for (const JsonValue& dim : shape->items) {
        if (dim.kind != JsonValue::Kind::Integer) entry_error("shape holds a non-integer");
        if (dim.integer < 0) entry_error("negative dimension ", dim.integer, " in shape");
        uint64_t size = uint64_t(dim.integer);
        if (size != 0 && bytes > kMaxTensorBytes / size) entry_error("shape is too large");
        bytes *= size;
        entry.shape.push_back(dim.integer);
    }

    if (offsets->kind != JsonValue::Kind::Array || offsets->items.size() != 2 ||
        offsets->items[0].kind != JsonValue::Kind::Integer ||
        offsets->items[1].kind != JsonValue::Kind::Integer)
        entry_error("data_offsets is not a pair of integers [begin, end]");
    int64_t begin = offsets->items[0].integer, end = offsets->items[1].integer;
    if (begin < 0 || end < begin)
        entry_error("data_offsets [", begin, ", ", end, "] are out of order or negative");
    if (uint64_t(end - begin) != bytes)
        entry_error("data_offsets [", begin, ", ", end, "] span ", end - begin, " bytes, but ",
                    dtype->string, " shape ", entry.shape.str(), " needs ", bytes);
    entry.begin = uint64_t(begin);
    entry.end = uint64_t(end);
    return entry;
}

Header parse_header(const std::string& path, const std::string& text) {
    JsonValue root = JsonReader(path, text).read_document();
    if (root.kind != JsonValue::Kind::Object) fail(path, ": the JSON header is not an object");
    Header header;
    for (size_t i = 0; i < root.keys.size(); ++i) {
        const std::string& key = root.keys[i];
        const JsonValue& value = root.items[i];
        if (key != kMetadataKey) {
            header.entries.push_back(parse_entry(path, key, value));
            continue;
        }
        if (value.kind != JsonValue::Kind::Object)
            fail(path, ": __metadata__ is not an object of strings");
        for (size_t j = 0; j < value.keys.size(); ++j) {
            if (value.items[j].kind != JsonValue::Kind::String)
                fail(path, ": __metadata__ value of '", value.keys[j], "' is not a string");
            header.metadata[value.keys[j]] = value.items[j].string;
        }
    }
    return header;
}

// Sorts the entries by data offset and checks that they tile the data section exactly:
// no overlap, no gap, nothing missing at the end (truncated), nothing after (trailing).
void check_layout(const std::string& path, std::vector<TensorEntry>& entries, uint64_t data_bytes) {
    std::sort(entries.begin(), entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
        return std::make_pair(a.begin, a.end) < std::make_pair(b.begin, b.end);
    });
    uint64_t covered = 0;  // the data section up to here belongs to earlier tensors
    const TensorEntry* previous = nullptr;
    for (const TensorEntry& entry : entries) {
        if (entry.begin < covered)  // covered > 0, so previous is set
            fail(path, ": tensors '", previous->name, "' [", previous->begin, ", ", previous->end,
                 "] and '", entry.name, "' [", entry.begin, ", ", entry.end, "] overlap");
        if (entry.begin > covered)
            fail(path, ": gap: data bytes [", covered, ", ", entry.begin,
                 ") belong to no tensor (before tensor '", entry.name, "')");
        covered = entry.end;
        previous = &entry;
    }
    if (covered > data_bytes)
        fail(path, ": truncated (header says ", covered, " bytes of tensors, file has ", data_bytes,
             ")");
    if (covered < data_bytes)
        fail(path, ": ", data_bytes - covered, " trailing bytes after the ", covered,
             " bytes of tensors");
}

void read_exactly(const std::string& path, FILE* file, void* into, size_t bytes, const char* what) {
    if (std::fread(into, 1, bytes, file) == bytes) return;
    if (std::ferror(file)) fail(path, ": read error in ", what, " (", std::strerror(errno), ")");
    fail(path, ": truncated while reading ", what, " (the file shrank while being read?)");
}

}  // namespace

const Tensor& SafetensorsFile::get(const std::string& name) const {
    for (const NamedTensor& named : tensors)
        if (named.name == name) return named.tensor;
    fail("checkpoint has no tensor '", name, "'");
}

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    std::set<std::string> names;
    for (const NamedTensor& named : tensors) {
        VDM_CHECK(!named.name.empty(), path, ": cannot save a tensor with an empty name");
        VDM_CHECK(named.name != kMetadataKey, path, ": '", kMetadataKey,
                  "' is reserved and cannot name a tensor");
        VDM_CHECK(names.insert(named.name).second, path, ": two tensors named '", named.name, "'");
        VDM_CHECK(named.tensor.defined(), path, ": tensor '", named.name, "' is undefined");
        VDM_CHECK(named.tensor.device() == Device::CPU, path, ": tensor '", named.name, "' is on ",
                  device_name(named.tensor.device()), "; copy it to the CPU before saving");
    }

    // {"__metadata__":{...},"name":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},...}
    std::string header = "{";
    if (!metadata.empty()) {
        header += json_quoted(kMetadataKey) + ":{";
        for (const auto& [key, value] : metadata) {
            if (header.back() != '{') header += ",";
            header += json_quoted(key) + ":" + json_quoted(value);
        }
        header += "}";
    }
    uint64_t offset = 0;
    for (const NamedTensor& named : tensors) {
        const Tensor& t = named.tensor;
        if (header.size() > 1) header += ",";
        header += json_quoted(named.name) + ":{\"dtype\":\"" + safetensors_dtype(t.dtype()) +
                  "\",\"shape\":[";
        for (int i = 0; i < t.ndim(); ++i) header += (i ? "," : "") + std::to_string(t.dim(i));
        header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
                  std::to_string(offset + t.bytes()) + "]}";
        offset += t.bytes();
    }
    header += "}";
    header.append((8 - header.size() % 8) % 8, ' ');

    uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
    std::vector<ByteSpan> spans = {{length, sizeof length}, {header.data(), header.size()}};
    for (const NamedTensor& named : tensors)
        spans.push_back({named.tensor.raw(), named.tensor.bytes()});
    write_atomically(path, spans);
}

SafetensorsFile load_safetensors(const std::string& path) {
    std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
    if (!file) fail(path, ": cannot open file (", std::strerror(errno), ")");
    std::error_code ec;
    uint64_t file_bytes = std::filesystem::file_size(path, ec);
    if (ec) fail(path, ": cannot read the file size (", ec.message(), ")");
    if (file_bytes < 8)
        fail(path, ": too short for the 8-byte header length (", file_bytes, " bytes)");

    uint8_t length[8];
    read_exactly(path, file.get(), length, sizeof length, "the header length");
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | length[i];
    if (header_bytes > kMaxHeaderBytes)
        fail(path, ": header length ", header_bytes, " is absurd (limit ", kMaxHeaderBytes,
             " bytes); not a safetensors file?");
    if (header_bytes > file_bytes - 8)
        fail(path, ": header length ", header_bytes, " runs past the end of the file (",
             file_bytes - 8, " bytes follow the length field)");

    std::string header_text(size_t(header_bytes), '\0');
    read_exactly(path, file.get(), header_text.data(), header_text.size(), "the header");
    Header header = parse_header(path, header_text);
    check_layout(path, header.entries, file_bytes - 8 - header_bytes);

    // The entries now tile the data section in order, so the reads are sequential.
    SafetensorsFile result;
    result.metadata = std::move(header.metadata);
    for (const TensorEntry& entry : header.entries) {
        Tensor tensor = Tensor::empty(entry.shape, entry.dtype);
        std::string what = "tensor '" + entry.name + "'";
        read_exactly(path, file.get(), tensor.raw(), tensor.bytes(), what.c_str());
        result.tensors.push_back({entry.name, tensor});
    }
    return result;
}

}  // namespace vdm
