import COpenCL
import Foundation

/// The entry points of `cl_khr_command_buffer` on one platform, looked up at run time.
///
/// Declared here rather than taken from `CL/cl_ext.h`: the extension was provisional for
/// years and the headers on a machine may be older or newer than its driver. The five
/// calls used keep one signature in every revision (0.9.0 to 1.0); the copy and barrier
/// commands, whose signatures changed, are not used.
struct OpenCLCommandBufferAPI {
    typealias Create = @convention(c) (cl_uint, UnsafePointer<cl_command_queue?>?, UnsafePointer<cl_ulong>?, UnsafeMutablePointer<cl_int>?) -> OpaquePointer?
    typealias Record = @convention(c) (OpaquePointer?, cl_command_queue?, UnsafePointer<cl_ulong>?, cl_kernel?, cl_uint, UnsafePointer<Int>?,
                                       UnsafePointer<Int>?, UnsafePointer<Int>?, cl_uint, UnsafePointer<cl_uint>?, UnsafeMutablePointer<cl_uint>?,
                                       UnsafeMutablePointer<OpaquePointer?>?) -> cl_int
    typealias Finalize = @convention(c) (OpaquePointer?) -> cl_int
    typealias Enqueue = @convention(c) (cl_uint, UnsafeMutablePointer<cl_command_queue?>?, OpaquePointer?, cl_uint,
                                        UnsafePointer<cl_event?>?, UnsafeMutablePointer<cl_event?>?) -> cl_int

    static let deviceCapabilities = cl_device_info(0x12A9)
    static let requiredQueueProperties = cl_device_info(0x12AA)
    static let flagsProperty: cl_ulong = 0x1293
    static let simultaneousUseFlag: cl_ulong = 1 << 0
    static let simultaneousUseCapability: cl_ulong = 1 << 2

    let create: Create
    let record: Record
    let finalize: Finalize
    let enqueue: Enqueue
    let release: Finalize
    /// Whether a command buffer may be enqueued again before its last run finished.
    let simultaneousUse: Bool

    /// The extension on `device`, or nil (with the reason) when the device does not report
    /// it, the platform lacks an entry point, or the queue lacks properties it requires.
    static func load(platform: cl_platform_id, device: cl_device_id, queueProperties: cl_command_queue_properties) -> (api: OpenCLCommandBufferAPI?, reason: String) {
        let extensions = OpenCLRuntime.deviceString(device, cl_device_info(CL_DEVICE_EXTENSIONS)).split(separator: " ")
        guard extensions.contains("cl_khr_command_buffer") else { return (nil, "the device does not report cl_khr_command_buffer") }
        let required: cl_ulong = OpenCLRuntime.deviceValue(device, requiredQueueProperties) ?? 0
        guard required & ~cl_ulong(queueProperties) == 0 else { return (nil, "command buffers need queue properties \(required)") }
        func address(_ name: String) -> UnsafeMutableRawPointer? { clGetExtensionFunctionAddressForPlatform(platform, name) }
        guard let create = address("clCreateCommandBufferKHR"), let record = address("clCommandNDRangeKernelKHR"),
              let finalize = address("clFinalizeCommandBufferKHR"), let enqueue = address("clEnqueueCommandBufferKHR"),
              let release = address("clReleaseCommandBufferKHR") else {
            return (nil, "the platform lacks a cl_khr_command_buffer entry point")
        }
        let capabilities: cl_ulong = OpenCLRuntime.deviceValue(device, deviceCapabilities) ?? 0
        let api = OpenCLCommandBufferAPI(
            create: unsafeBitCast(create, to: Create.self), record: unsafeBitCast(record, to: Record.self),
            finalize: unsafeBitCast(finalize, to: Finalize.self), enqueue: unsafeBitCast(enqueue, to: Enqueue.self),
            release: unsafeBitCast(release, to: Finalize.self), simultaneousUse: capabilities & simultaneousUseCapability != 0)
        return (api, "cl_khr_command_buffer")
    }
}

/// Kernel launches recorded once and replayed: with one enqueue where the device has
/// `cl_khr_command_buffer`, else as a launch list, one `clEnqueueNDRangeKernel` per
/// launch and nothing else (no arguments set, no views, plans or kernels looked up).
///
/// Each recorded launch has a kernel object of its own whose arguments never change after
/// recording: the extension captures arguments when a command is recorded, but some
/// implementations (PoCL 3.1) read them when it runs; a launch list needs its own for the
/// same reason. Buffers the backend allocated while recording (split reductions'
/// partials) are held here for as long as the commands are.
final class OpenCLCommandBuffer: RecordedCommands, @unchecked Sendable {
    /// The extension's command buffer and its entry points; nil for a launch list.
    let buffer: (handle: OpaquePointer, api: OpenCLCommandBufferAPI)?
    var kernels: [cl_kernel] = []
    /// A launch list's global and local sizes, one entry per kernel.
    var sizes: [(global: [Int], local: [Int]?)] = []
    var held: [DeviceBuffer] = []
    /// The event of the last enqueue: awaited before the next one where the device does not
    /// allow simultaneous use, and before anything is released.
    var lastRun: cl_event?
    /// The backend's lock, taken to release (the queue may be in use on another thread).
    private let lock: NSRecursiveLock

    var commandCount: Int { kernels.count }

    init(buffer: (handle: OpaquePointer, api: OpenCLCommandBufferAPI)?, lock: NSRecursiveLock) {
        self.buffer = buffer
        self.lock = lock
    }

    deinit {
        lock.lock()
        defer { lock.unlock() }
        // The specification defers releases until commands finish; PoCL 3.1 does not.
        if let lastRun {
            clWaitForEvents(1, [lastRun])
            clReleaseEvent(lastRun)
        }
        if let buffer { _ = buffer.api.release(buffer.handle) }
        for kernel in kernels { clReleaseKernel(kernel) }
    }
}
