/// STUB: replaced by the OpenCL backend implementation.
enum OpenCLRuntime {
    static func discover() -> OpenCLDiscovery { OpenCLDiscovery(devices: [], problem: "OpenCL backend not built yet") }
    static func makeBackend(deviceIndex: Int) throws -> Backend {
        throw AdjointError.deviceUnavailable(device: "opencl:\(deviceIndex)", reason: "not built yet")
    }
}
