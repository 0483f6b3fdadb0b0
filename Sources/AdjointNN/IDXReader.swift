import Adjoint
import CZlib
import Foundation

/// Reads IDX files (the format of MNIST and Fashion-MNIST), plain or gzip-compressed.
///
/// The magic number, the dimensions and the exact payload length are validated; a
/// truncated or corrupt file throws `AdjointError.file` naming the file and the problem.
public enum IDXReader {
    /// An IDX file of unsigned bytes: its dimensions and its row-major payload.
    public struct Contents: Sendable {
        /// Extent of each dimension, e.g. `[60000, 28, 28]`.
        public let dimensions: [Int]
        /// The values, row-major.
        public let bytes: [UInt8]
    }

    /// Reads an unsigned-byte IDX file (type 0x08), gunzipping it first if it is gzip.
    public static func read(_ url: URL) throws -> Contents {
        let path = url.path
        var raw: Data
        do {
            raw = try Data(contentsOf: url)
        } catch {
            throw AdjointError.file(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        if raw.count >= 2 && raw[raw.startIndex] == 0x1F && raw[raw.startIndex + 1] == 0x8B {
            raw = try gunzip(raw, path: path)
        }
        let bytes = [UInt8](raw)
        guard bytes.count >= 4 else { throw AdjointError.file(path: path, reason: "truncated: \(bytes.count) bytes, no IDX header") }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw AdjointError.file(path: path, reason: String(format: "not an IDX file: magic number starts 0x%02x%02x, expected 0x0000", bytes[0], bytes[1]))
        }
        guard bytes[2] == 0x08 else {
            throw AdjointError.file(path: path, reason: String(format: "unsupported IDX element type 0x%02x (only unsigned bytes, 0x08)", bytes[2]))
        }
        let rank = Int(bytes[3])
        guard rank >= 1, bytes.count >= 4 + 4 * rank else {
            throw AdjointError.file(path: path, reason: "truncated header: \(rank) dimensions need \(4 + 4 * rank) bytes, the file has \(bytes.count)")
        }
        let dimensions = (0..<rank).map { axis -> Int in
            let start = 4 + 4 * axis
            return Int(bytes[start]) << 24 | Int(bytes[start + 1]) << 16 | Int(bytes[start + 2]) << 8 | Int(bytes[start + 3])
        }
        let expected = dimensions.reduce(1, *)
        let payload = bytes.count - 4 - 4 * rank
        guard payload == expected else {
            throw AdjointError.file(path: path, reason: "\(payload < expected ? "truncated" : "corrupt"): dimensions \(dimensions) need \(expected) bytes of data, the file has \(payload)")
        }
        return Contents(dimensions: dimensions, bytes: Array(bytes[(4 + 4 * rank)...]))
    }

    /// Inflates a complete gzip stream.
    static func gunzip(_ compressed: Data, path: String) throws -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw AdjointError.file(path: path, reason: "cannot start gzip decompression")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        var input = [UInt8](compressed)
        try input.withUnsafeMutableBytes { source in
            stream.next_in = source.bindMemory(to: Bytef.self).baseAddress
            stream.avail_in = uInt(source.count)
            repeat {
                try chunk.withUnsafeMutableBytes { target in
                    stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(target.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        let reason = status == Z_BUF_ERROR ? "truncated gzip stream" : "corrupt gzip stream (zlib status \(status))"
                        throw AdjointError.file(path: path, reason: reason)
                    }
                    output.append(target.bindMemory(to: UInt8.self).baseAddress!, count: target.count - Int(stream.avail_out))
                }
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END else { throw AdjointError.file(path: path, reason: "truncated gzip stream (ended after \(output.count) bytes)") }
        return output
    }
}
