import Adjoint
import Foundation

/// Saving and loading variables in the safetensors format (an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
/// little-endian data), readable by the Python `safetensors` package.
public enum Checkpoint {
    /// Writes every variable of `vars` to `url`, atomically (a temporary file renamed).
    public static func save(_ vars: VarCollection, to url: URL, metadata: [String: String] = [:]) throws {
        var header: [String: Any] = [:]
        var payload = Data()
        for (name, variable) in vars {
            let tensor = variable.value
            let bytes = try rawBytes(of: tensor)
            header[name] = ["dtype": code(for: tensor.dtype), "shape": tensor.shape, "data_offsets": [payload.count, payload.count + bytes.count]]
            payload.append(bytes)
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(payload)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try file.write(to: url, options: .atomic)
        } catch {
            throw AdjointError.file(path: url.path, reason: "cannot write checkpoint: \(error.localizedDescription)")
        }
    }

    /// Reads `url` and assigns every variable of `vars` from it. Everything is checked
    /// first (every name present, dtype and shape equal, data in bounds); on any problem
    /// nothing is assigned and `AdjointError.file` says what is wrong.
    public static func load(_ vars: VarCollection, from url: URL) throws {
        let entries = try read(url)
        var assignments: [(BaseVar, Tensor)] = []
        for (name, variable) in vars {
            guard let tensor = entries[name] else {
                throw AdjointError.file(path: url.path, reason: "no tensor named '\(name)' (the file has \(entries.count): \(entries.keys.sorted().prefix(5).joined(separator: ", "))...)")
            }
            guard tensor.shape == variable.value.shape, tensor.dtype == variable.value.dtype else {
                throw AdjointError.file(path: url.path, reason: "'\(name)' is \(tensor.dtype) \(tensor.shape) in the file but \(variable.value.dtype) \(variable.value.shape) in the module")
            }
            assignments.append((variable, tensor.to(variable.value.device)))
        }
        for (variable, tensor) in assignments { variable.assign(tensor) }
    }

    /// The `__metadata__` strings of a safetensors file (empty when it has none).
    public static func metadata(_ url: URL) throws -> [String: String] {
        let (_, header, _) = try parse(url)
        return header["__metadata__"] as? [String: String] ?? [:]
    }

    /// Every tensor in a safetensors file, on the CPU.
    public static func read(_ url: URL) throws -> [String: Tensor] {
        let (data, header, dataStart) = try parse(url)
        let path = url.path
        var result: [String: Tensor] = [:]
        for (name, entry) in header where name != "__metadata__" {
            guard let entry = entry as? [String: Any], let code = entry["dtype"] as? String, let shape = entry["shape"] as? [Int],
                  let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw AdjointError.file(path: path, reason: "corrupt: entry '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = dtype(for: code) else { throw AdjointError.file(path: path, reason: "'\(name)' has unsupported dtype \(code)") }
            let begin = dataStart + offsets[0], end = dataStart + offsets[1]
            let expected = shape.reduce(1, *) * dtype.byteSize
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, end - begin == expected, end <= data.count else {
                throw AdjointError.file(path: path, reason: "truncated or corrupt: '\(name)' needs bytes \(offsets[0])..<\(offsets[1]) (\(expected) for \(code) \(shape)) but the data section has \(data.count - dataStart)")
            }
            result[name] = tensor(from: data.subdata(in: begin..<end), dtype: dtype, shape: shape)
        }
        return result
    }

    /// The file's bytes, its JSON header and where its data section starts.
    static func parse(_ url: URL) throws -> (Data, [String: Any], Int) {
        let path = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw AdjointError.file(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        guard data.count >= 8 else { throw AdjointError.file(path: path, reason: "truncated: \(data.count) bytes, no header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw AdjointError.file(path: path, reason: "truncated or corrupt: header length \(headerLength) exceeds the file's \(data.count - 8) remaining bytes")
        }
        let dataStart = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<dataStart)) as? [String: Any] else {
            throw AdjointError.file(path: path, reason: "corrupt: the header is not a JSON object")
        }
        return (data, header, dataStart)
    }

    static func code(for dtype: DType) -> String {
        switch dtype {
        case .float32: return "F32"
        case .float64: return "F64"
        case .int32: return "I32"
        case .bool: return "BOOL"
        }
    }

    static func dtype(for code: String) -> DType? {
        ["F32": .float32, "F64": .float64, "I32": .int32, "BOOL": .bool][code]
    }

    static func rawBytes(of tensor: Tensor) throws -> Data {
        switch tensor.dtype {
        case .float32: return try tensor.scalars(as: Float.self).withUnsafeBytes { Data($0) }
        case .float64: return try tensor.scalars(as: Double.self).withUnsafeBytes { Data($0) }
        case .int32: return try tensor.scalars(as: Int32.self).withUnsafeBytes { Data($0) }
        case .bool: return Data(try tensor.scalars(as: Bool.self).map { $0 ? 1 : 0 })
        }
    }

    static func tensor(from bytes: Data, dtype: DType, shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        switch dtype {
        case .float32: return Tensor(bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self).prefix(count)) }, shape: shape, on: .cpu)
        case .float64: return Tensor(bytes.withUnsafeBytes { Array($0.bindMemory(to: Double.self).prefix(count)) }, shape: shape, on: .cpu)
        case .int32: return Tensor(bytes.withUnsafeBytes { Array($0.bindMemory(to: Int32.self).prefix(count)) }, shape: shape, on: .cpu)
        case .bool: return Tensor(bytes.map { $0 != 0 }, shape: shape, on: .cpu)
        }
    }
}

extension Module {
    /// Saves this module's variables (and, given, an optimizer's) as safetensors.
    public func save(to url: URL, optimizer: Optimizer? = nil) throws {
        try Checkpoint.save(vars() + (optimizer?.vars() ?? VarCollection()), to: url)
    }

    /// Loads this module's variables (and an optimizer's) from safetensors; on error
    /// nothing changes.
    public func load(from url: URL, optimizer: Optimizer? = nil) throws {
        try Checkpoint.load(vars() + (optimizer?.vars() ?? VarCollection()), from: url)
    }
}
