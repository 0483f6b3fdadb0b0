/// An environment failure: something outside the program's control went wrong.
///
/// Programmer mistakes (shape mismatches, bad axes, mixed devices) are precondition
/// failures instead; see docs/ARCHITECTURE.md ("Errors").
public enum AdjointError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The requested device does not exist on this machine; `reason` says why.
    case deviceUnavailable(device: String, reason: String)
    /// An OpenCL call failed. `status` is the symbolic name (e.g. `CL_OUT_OF_RESOURCES`).
    case openCL(status: String, code: Int32, operation: String)
    /// A device allocation failed even after the buffer pool was emptied.
    case outOfMemory(device: String, bytes: Int)
    /// An OpenCL program failed to build; `log` is the compiler's build log.
    case kernelBuild(program: String, device: String, log: String)
    /// A file could not be read or written, or its contents are malformed.
    case file(path: String, reason: String)
    /// An operation is not supported in this configuration (e.g. fp64 on a device without it).
    case unsupported(String)
    /// `jit` could not trace `function`: it read a traced tensor's values on the host, or
    /// used one in a way a compiled program cannot replay (`reason` says which).
    case tracing(function: String, reason: String)

    public var description: String {
        switch self {
        case let .deviceUnavailable(device, reason):
            return "device \(device) is not available: \(reason)"
        case let .openCL(status, code, operation):
            return "OpenCL error \(status) (\(code)) in \(operation)"
        case let .outOfMemory(device, bytes):
            return "out of memory on \(device) allocating \(bytes) bytes (buffer pool already emptied)"
        case let .kernelBuild(program, device, log):
            return "OpenCL program '\(program)' failed to build on \(device):\n\(log)"
        case let .file(path, reason):
            return "\(path): \(reason)"
        case let .unsupported(what):
            return "unsupported: \(what)"
        case let .tracing(function, reason):
            return "jit(\(function)) cannot trace: \(reason)"
        }
    }
}
