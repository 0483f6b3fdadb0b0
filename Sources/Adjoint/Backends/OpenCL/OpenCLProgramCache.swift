import COpenCL
import Foundation

/// Builds OpenCL programs, keeping their binaries on disk so a second process skips the
/// compiler.
///
/// An entry is `<fnv1a64(platform, device, driver, options, source)>.clbin` holding a
/// header (magic, payload length, payload FNV-1a) and the `CL_PROGRAM_BINARIES` bytes.
/// Entries are written atomically (temporary file + rename). An entry that is malformed
/// or that the driver rejects (create or build from binary fails) is rebuilt from source
/// and overwritten, never trusted.
struct OpenCLProgramCache {
    /// Where entries live; nil disables the disk cache.
    var directory: URL?
    var platformName: String
    var deviceName: String
    var driverVersion: String

    /// `ADJOINT_CACHE_DIR`, else `$XDG_CACHE_HOME/adjoint`, else `~/.cache/adjoint`.
    static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let dir = environment["ADJOINT_CACHE_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir, isDirectory: true) }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("adjoint", isDirectory: true)
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent(".cache/adjoint", isDirectory: true)
    }

    /// 64-bit FNV-1a.
    static func fnv1a(_ bytes: some Sequence<UInt8>, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The cache key of a program: hex FNV-1a over device identity, options and source.
    func key(options: String, source: String) -> String {
        let text = [platformName, deviceName, driverVersion, options, source].joined(separator: "\u{0}")
        let hash = OpenCLProgramCache.fnv1a(text.utf8)
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    func entryURL(options: String, source: String) -> URL? {
        directory?.appendingPathComponent(key(options: options, source: source) + ".clbin")
    }

    private static let magic = Array("ADJOINT-CLBIN-1\n".utf8)

    /// The binary stored for this program, or nil when absent or malformed.
    func load(options: String, source: String) -> [UInt8]? {
        guard let url = entryURL(options: options, source: source),
              let data = try? Data(contentsOf: url) else { return nil }
        let bytes = [UInt8](data)
        let header = OpenCLProgramCache.magic.count + 16
        guard bytes.count > header, Array(bytes[0..<OpenCLProgramCache.magic.count]) == OpenCLProgramCache.magic else { return nil }
        func word(_ at: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<8 { value |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
            return value
        }
        let length = word(OpenCLProgramCache.magic.count)
        let checksum = word(OpenCLProgramCache.magic.count + 8)
        let payload = bytes[header...]
        guard length == UInt64(payload.count), OpenCLProgramCache.fnv1a(payload) == checksum else { return nil }
        return Array(payload)
    }

    /// Stores a binary atomically. Failures are ignored: the cache is an optimization.
    func store(_ binary: [UInt8], options: String, source: String) {
        guard let url = entryURL(options: options, source: source), let directory else { return }
        var bytes = OpenCLProgramCache.magic
        for value in [UInt64(binary.count), OpenCLProgramCache.fnv1a(binary)] {
            for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
        }
        bytes += binary
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0...UInt32.max)).tmp")
            try Data(bytes).write(to: temporary)
            if rename(temporary.path, url.path) != 0 { try? FileManager.default.removeItem(at: temporary) }
        } catch {
            if ProcessInfo.processInfo.environment["ADJOINT_LOG"] == "1" {
                print("adjoint: could not write program cache \(url.path): \(error)")
            }
        }
    }

    // MARK: - Building

    /// How a program was obtained.
    enum Origin { case compiled, cached }

    /// The built program for `source`: from the disk cache when a valid entry exists,
    /// else compiled (and stored). Throws `AdjointError.kernelBuild` with the build log
    /// when the source does not compile.
    func program(name: String, source: String, options: String, context: cl_context, device: cl_device_id) throws -> (cl_program, Origin) {
        if let binary = load(options: options, source: source),
           let program = OpenCLProgramCache.fromBinary(binary, options: options, context: context, device: device) {
            return (program, .cached)
        }
        let program = try OpenCLProgramCache.fromSource(name: name, source: source, options: options, context: context, device: device, deviceName: deviceName)
        if directory != nil, let binary = OpenCLProgramCache.binary(of: program) {
            store(binary, options: options, source: source)
        }
        return (program, .compiled)
    }

    static func fromBinary(_ binary: [UInt8], options: String, context: cl_context, device: cl_device_id) -> cl_program? {
        var device: cl_device_id? = device
        var length = binary.count
        var binaryStatus: cl_int = CL_SUCCESS
        var status: cl_int = CL_SUCCESS
        let program: cl_program? = binary.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return clCreateProgramWithBinary(context, 1, &device, &length, &pointer, &binaryStatus, &status)
        }
        guard status == CL_SUCCESS, binaryStatus == CL_SUCCESS, let program else {
            if let program { clReleaseProgram(program) }
            return nil
        }
        guard clBuildProgram(program, 1, &device, options, nil, nil) == CL_SUCCESS else {
            clReleaseProgram(program)
            return nil
        }
        return program
    }

    static func fromSource(name: String, source: String, options: String, context: cl_context, device: cl_device_id, deviceName: String) throws -> cl_program {
        var status: cl_int = CL_SUCCESS
        let program: cl_program? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            var length = strlen(text)
            return clCreateProgramWithSource(context, 1, &pointer, &length, &status)
        }
        guard status == CL_SUCCESS, let program else { throw OpenCLStatus.error(status, "clCreateProgramWithSource(\(name))") }
        var device: cl_device_id? = device
        let built = clBuildProgram(program, 1, &device, options, nil, nil)
        if built != CL_SUCCESS {
            let log = buildLog(program, device!)
            clReleaseProgram(program)
            if built == CL_BUILD_PROGRAM_FAILURE || built == CL_INVALID_BUILD_OPTIONS || !log.isEmpty {
                throw AdjointError.kernelBuild(program: name, device: deviceName, log: log.isEmpty ? OpenCLStatus.name(built) : log)
            }
            throw OpenCLStatus.error(built, "clBuildProgram(\(name))")
        }
        return program
    }

    static func buildLog(_ program: cl_program, _ device: cl_device_id) -> String {
        var size = 0
        guard clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil) == CL_SUCCESS else { return "" }
        return OpenCLRuntime.text(bytes).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The program's device binary (single-device program), or nil if the driver has none.
    static func binary(of program: cl_program) -> [UInt8]? {
        var size = 0
        guard clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil) == CL_SUCCESS, size > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let status = bytes.withUnsafeMutableBufferPointer { buffer -> cl_int in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARIES), MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &pointer, nil)
        }
        return status == CL_SUCCESS ? bytes : nil
    }
}
