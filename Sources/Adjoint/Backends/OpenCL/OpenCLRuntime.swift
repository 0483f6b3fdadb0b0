import COpenCL
import Foundation

/// Finds OpenCL platforms and devices and starts backends on them.
///
/// Devices are numbered over all platforms in the order the ICD loader reports them
/// (platforms in order, each platform's devices in order), so `.opencl(i)` is stable
/// for a given machine and driver set.
enum OpenCLRuntime {
    /// One device found by `enumerate()`.
    struct Found {
        var platform: cl_platform_id
        var device: cl_device_id
        var info: DeviceInfo
        var platformName: String
        var deviceName: String
        var driverVersion: String
    }

    /// Every platform's devices, or a user-facing reason why there are none.
    static func discover() -> OpenCLDiscovery {
        switch enumerate() {
        case .success(let found):
            return OpenCLDiscovery(devices: found.map(\.info), problem: found.isEmpty ? "OpenCL platforms were found but they report no devices" : nil)
        case .failure(let problem):
            return OpenCLDiscovery(devices: [], problem: problem.message)
        }
    }

    /// Starts a backend on the `deviceIndex`-th device (default program cache directory).
    static func makeBackend(deviceIndex: Int) throws -> Backend {
        try makeOpenCLBackend(deviceIndex: deviceIndex, cacheDirectory: OpenCLProgramCache.defaultDirectory())
    }

    /// Starts a backend with an explicit program cache directory (nil: no disk cache).
    static func makeOpenCLBackend(deviceIndex: Int, cacheDirectory: URL?, profiling: Bool = OpenCLBackend.profilingRequested) throws -> OpenCLBackend {
        let found: [Found]
        switch enumerate() {
        case .success(let list): found = list
        case .failure(let problem):
            throw AdjointError.deviceUnavailable(device: Device.opencl(deviceIndex).description, reason: problem.message)
        }
        guard deviceIndex >= 0, deviceIndex < found.count else {
            let reason = found.isEmpty ? "OpenCL platforms were found but they report no devices"
                : "only \(found.count) OpenCL device(s) found (opencl:0...opencl:\(found.count - 1))"
            throw AdjointError.deviceUnavailable(device: Device.opencl(deviceIndex).description, reason: reason)
        }
        return try OpenCLBackend(found: found[deviceIndex], cacheDirectory: cacheDirectory, profiling: profiling)
    }

    struct Problem: Error { var message: String }

    /// Lists every device of every platform.
    static func enumerate() -> Result<[Found], Problem> {
        var platformCount: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &platformCount)
        if status == -1001 || (status == CL_SUCCESS && platformCount == 0) {
            return .failure(Problem(message: noPlatformMessage()))
        }
        if status != CL_SUCCESS {
            return .failure(Problem(message: "clGetPlatformIDs failed with \(OpenCLStatus.name(status)) (\(status)); check the OpenCL ICD loader and driver installation"))
        }
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        let listed = clGetPlatformIDs(platformCount, &platforms, nil)
        if listed != CL_SUCCESS {
            return .failure(Problem(message: "clGetPlatformIDs failed with \(OpenCLStatus.name(listed)) (\(listed))"))
        }
        var found: [Found] = []
        var notes: [String] = []
        for case let platform? in platforms {
            let platformName = platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
            var deviceCount: cl_uint = 0
            let counted = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount)
            if counted != CL_SUCCESS || deviceCount == 0 {
                notes.append("platform '\(platformName)' reports no devices (\(OpenCLStatus.name(counted)))")
                continue
            }
            var devices = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            guard clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &devices, nil) == CL_SUCCESS else { continue }
            for case let device? in devices {
                let name = deviceString(device, cl_device_info(CL_DEVICE_NAME)).trimmingCharacters(in: .whitespaces)
                let vendor = deviceString(device, cl_device_info(CL_DEVICE_VENDOR)).trimmingCharacters(in: .whitespaces)
                let version = deviceString(device, cl_device_info(CL_DEVICE_VERSION))
                let driver = deviceString(device, cl_device_info(CL_DRIVER_VERSION))
                let extensions = deviceString(device, cl_device_info(CL_DEVICE_EXTENSIONS))
                let memory: cl_ulong = deviceValue(device, cl_device_info(CL_DEVICE_GLOBAL_MEM_SIZE)) ?? 0
                let type: cl_device_type = deviceValue(device, cl_device_info(CL_DEVICE_TYPE)) ?? 0
                let doubleConfig: cl_device_fp_config = deviceValue(device, cl_device_info(CL_DEVICE_DOUBLE_FP_CONFIG)) ?? 0
                let fp64 = extensions.split(separator: " ").contains("cl_khr_fp64") || doubleConfig != 0
                let info = DeviceInfo(
                    device: .opencl(found.count), name: name, vendor: vendor,
                    version: "\(platformName) \(version)".trimmingCharacters(in: .whitespaces),
                    memoryBytes: Int(clamping: memory), supportsFloat64: fp64,
                    isGPU: type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0,
                    recordsCommands: extensions.split(separator: " ").contains("cl_khr_command_buffer"))
                found.append(Found(platform: platform, device: device, info: info, platformName: platformName, deviceName: name, driverVersion: driver))
            }
        }
        if found.isEmpty {
            return .failure(Problem(message: "OpenCL found \(platforms.count) platform(s) but no devices: " + notes.joined(separator: "; ")))
        }
        return .success(found)
    }

    /// Why the ICD loader found nothing, in words a user can act on.
    static func noPlatformMessage(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let vendorDirectory: String
        if let custom = environment["OCL_ICD_VENDORS"], !custom.isEmpty {
            vendorDirectory = "\(custom) (from OCL_ICD_VENDORS)"
        } else {
            vendorDirectory = "/etc/OpenCL/vendors"
        }
        return "no OpenCL platform found (CL_PLATFORM_NOT_FOUND_KHR): the OpenCL ICD loader found no vendor .icd file in \(vendorDirectory). "
            + "Install an OpenCL driver that registers one, e.g. `pocl-opencl-icd` for a CPU device, or your GPU driver's ICD package "
            + "(NVIDIA: the driver's libnvidia-compute / nvidia-opencl-icd; AMD: ROCm OpenCL runtime; Intel: intel-opencl-icd)."
    }

    // MARK: - Info queries

    /// A NUL-terminated C string returned by an info query.
    static func text(_ bytes: [CChar]) -> String {
        String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func platformString(_ platform: cl_platform_id, _ param: cl_platform_info) -> String {
        var size = 0
        guard clGetPlatformInfo(platform, param, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetPlatformInfo(platform, param, size, &bytes, nil) == CL_SUCCESS else { return "" }
        return OpenCLRuntime.text(bytes)
    }

    static func deviceString(_ device: cl_device_id, _ param: cl_device_info) -> String {
        var size = 0
        guard clGetDeviceInfo(device, param, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetDeviceInfo(device, param, size, &bytes, nil) == CL_SUCCESS else { return "" }
        return OpenCLRuntime.text(bytes)
    }

    static func deviceValue<T: FixedWidthInteger>(_ device: cl_device_id, _ param: cl_device_info) -> T? {
        var value: T = 0
        let status = withUnsafeMutableBytes(of: &value) { clGetDeviceInfo(device, param, $0.count, $0.baseAddress, nil) }
        return status == CL_SUCCESS ? value : nil
    }
}
