import Foundation

/// Where a tensor's memory lives and its primitives run.
///
/// ```swift
/// let x = Tensor.ones([3], on: .cpu)
/// let y = x.to(.opencl(0))
/// ```
public enum Device: Hashable, Sendable, CustomStringConvertible {
    /// The native CPU backend (Swift loops, OpenBLAS GEMM).
    case cpu
    /// The i-th OpenCL device, counting over all platforms in discovery order.
    case opencl(Int)

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .opencl(let index): return "opencl:\(index)"
        }
    }

    /// Parses `cpu`, `opencl` (= `opencl:0`) or `opencl:N`.
    public init?(parsing text: String) {
        let lowered = text.trimmingCharacters(in: .whitespaces).lowercased()
        if lowered == "cpu" { self = .cpu; return }
        if lowered == "opencl" || lowered == "gpu" { self = .opencl(0); return }
        if lowered.hasPrefix("opencl:"), let index = Int(lowered.dropFirst("opencl:".count)), index >= 0 {
            self = .opencl(index)
            return
        }
        return nil
    }
}

/// What Adjoint knows about one device.
public struct DeviceInfo: Sendable, CustomStringConvertible {
    /// The device value to pass to `Tensor(..., on:)` and `to(_:)`.
    public var device: Device
    /// The device's own name, e.g. "NVIDIA H100 80GB HBM3".
    public var name: String
    /// The vendor string.
    public var vendor: String
    /// Platform and version, e.g. "OpenCL 3.0 CUDA 13.0" (empty for the CPU backend).
    public var version: String
    /// Global memory in bytes.
    public var memoryBytes: Int
    /// Whether float64 primitives run on the device.
    public var supportsFloat64: Bool
    /// Whether the device is a GPU (as the driver reports it).
    public var isGPU: Bool
    /// Whether the device reports `cl_khr_command_buffer`, which jit replays programs from
    /// (`JitOptions.recordReplays`) where the platform also has its entry points
    /// (`JitProgramSummary.recordsReplays` says per program).
    public var recordsCommands: Bool

    /// Creates a record (backends fill these in).
    public init(device: Device, name: String, vendor: String, version: String, memoryBytes: Int, supportsFloat64: Bool, isGPU: Bool, recordsCommands: Bool = false) {
        self.recordsCommands = recordsCommands
        self.device = device
        self.name = name
        self.vendor = vendor
        self.version = version
        self.memoryBytes = memoryBytes
        self.supportsFloat64 = supportsFloat64
        self.isGPU = isGPU
    }

    public var description: String {
        let gib = Double(memoryBytes) / Double(1 << 30)
        let kind = isGPU ? "GPU" : "CPU"
        return "\(device)\t\(name) (\(vendor)) \(kind), \(String(format: "%.1f", gib)) GiB, fp64 \(supportsFloat64 ? "yes" : "no")"
            + (recordsCommands ? ", command buffers" : "")
            + (version.isEmpty ? "" : ", \(version)")
    }
}

extension Device {
    /// Every device on this machine: the CPU first, then each OpenCL device.
    public static var available: [DeviceInfo] {
        [DeviceRegistry.shared.cpuInfo] + DeviceRegistry.shared.openCL.devices
    }

    /// Why no OpenCL device is listed (no ICD loader, no vendor file, ...), or nil when
    /// at least one was found.
    public static var openCLUnavailableReason: String? {
        DeviceRegistry.shared.openCL.devices.isEmpty ? (DeviceRegistry.shared.openCL.problem ?? "no OpenCL device found") : nil
    }

    @TaskLocal static var scopedDefault: Device?

    /// The device new tensors go to when none is named.
    ///
    /// In order: the innermost `withDevice` scope; the `ADJOINT_DEVICE` environment variable
    /// (`cpu`, `opencl`, `opencl:N`); the first OpenCL GPU; the CPU. A malformed or
    /// unavailable `ADJOINT_DEVICE` stops the program with the reason; use
    /// `resolveDefault()` to get that as a thrown error instead.
    public static var `default`: Device {
        do {
            return try resolveDefault()
        } catch {
            fatalError("Adjoint: \(error)")
        }
    }

    /// `Device.default`, throwing `AdjointError.deviceUnavailable` when `ADJOINT_DEVICE`
    /// names a device that does not exist or cannot be parsed.
    public static func resolveDefault() throws -> Device {
        if let scoped = scopedDefault { return scoped }
        return try DeviceRegistry.shared.environmentDefault.get()
    }

    /// Checks that this device exists here and its backend starts.
    public func validate() throws {
        _ = try DeviceRegistry.shared.backend(for: self)
    }

    /// This device's dispatch ledger (launches, bytes moved, compiles, fallbacks, pool).
    public var ledger: Ledger {
        (try? DeviceRegistry.shared.backend(for: self))?.ledger ?? Ledger()
    }

    /// Device time per kernel since the device started, when `ADJOINT_PROFILE=1` was set
    /// and the backend measures it (OpenCL); nil otherwise. Waits for queued work.
    public var kernelProfile: KernelProfile? {
        (try? DeviceRegistry.shared.backend(for: self))?.kernelProfile
    }

    /// Waits for all work submitted to this device.
    public func synchronize() throws {
        try DeviceRegistry.shared.backend(for: self).synchronize()
    }

    /// Frees the buffers this device's pool holds for reuse.
    public func emptyPool() {
        (try? DeviceRegistry.shared.backend(for: self))?.emptyPool()
    }
}

/// Runs `body` with `device` as `Device.default` (task-local: other tasks and threads
/// are unaffected).
public func withDevice<R>(_ device: Device, _ body: () throws -> R) rethrows -> R {
    try Device.$scopedDefault.withValue(device, operation: body)
}

/// Async variant of `withDevice(_:_:)`.
public func withDevice<R>(_ device: Device, _ body: () async throws -> R) async rethrows -> R {
    try await Device.$scopedDefault.withValue(device, operation: body)
}
