import Foundation

/// Owns one backend per device, created on first use, and the OpenCL discovery result.
final class DeviceRegistry: @unchecked Sendable {
    static let shared = DeviceRegistry()

    let cpu = CPUBackend()
    let openCL: OpenCLDiscovery
    private let lock = NSLock()
    /// Per discovered OpenCL device, its backend once asked for (an array: every op looks
    /// its backend up, and hashing the index cost more than the lookup).
    private var openCLBackends: [Result<Backend, AdjointError>?]
    let environmentDefault: Result<Device, AdjointError>

    private init() {
        openCL = OpenCLRuntime.discover()
        openCLBackends = Array(repeating: nil, count: openCL.devices.count)
        environmentDefault = DeviceRegistry.resolveEnvironment(openCL: openCL)
    }

    var cpuInfo: DeviceInfo {
        DeviceInfo(
            device: .cpu, name: CPUBackend.processorName, vendor: "Adjoint CPU backend (\(ProcessInfo.processInfo.activeProcessorCount) threads, \(CPUFloat32GEMM.selected == .adjoint ? "AVX-512 GEMM + OpenBLAS" : "OpenBLAS"))",
            version: "", memoryBytes: Int(ProcessInfo.processInfo.physicalMemory), supportsFloat64: true, isGPU: false)
    }

    /// The backend for `device`, starting it on first use.
    func backend(for device: Device) throws -> Backend {
        switch device {
        case .cpu:
            return cpu
        case .opencl(let index):
            guard openCL.devices.indices.contains(index) else {
                let reason = openCL.devices.isEmpty
                    ? (openCL.problem ?? "no OpenCL device found")
                    : "only \(openCL.devices.count) OpenCL device(s) found (opencl:0...opencl:\(openCL.devices.count - 1))"
                throw AdjointError.deviceUnavailable(device: device.description, reason: reason)
            }
            lock.lock()
            defer { lock.unlock() }
            if let existing = openCLBackends[index] { return try existing.get() }
            let result: Result<Backend, AdjointError>
            do {
                result = .success(try OpenCLRuntime.makeBackend(deviceIndex: index))
            } catch let error as AdjointError {
                result = .failure(error)
            } catch {
                result = .failure(.deviceUnavailable(device: device.description, reason: "\(error)"))
            }
            openCLBackends[index] = result
            return try result.get()
        }
    }

    private static func resolveEnvironment(openCL: OpenCLDiscovery) -> Result<Device, AdjointError> {
        if let text = ProcessInfo.processInfo.environment["ADJOINT_DEVICE"], !text.isEmpty {
            guard let device = Device(parsing: text) else {
                return .failure(.deviceUnavailable(device: text, reason: "ADJOINT_DEVICE must be cpu, opencl or opencl:N"))
            }
            if case .opencl(let index) = device, index >= openCL.devices.count {
                let reason = openCL.devices.isEmpty
                    ? (openCL.problem ?? "no OpenCL device found")
                    : "only \(openCL.devices.count) OpenCL device(s) found"
                return .failure(.deviceUnavailable(device: "\(device) (from ADJOINT_DEVICE)", reason: reason))
            }
            return .success(device)
        }
        if let gpu = openCL.devices.first(where: { $0.isGPU }) { return .success(gpu.device) }
        return .success(.cpu)
    }
}

/// The outcome of looking for OpenCL devices.
struct OpenCLDiscovery: Sendable {
    /// Every OpenCL device on every platform, `device` numbered in this order.
    var devices: [DeviceInfo]
    /// Why none were found, when none were.
    var problem: String?
}
