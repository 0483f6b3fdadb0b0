import AdjointKernels
import COpenCL
import Foundation

/// Runs primitives on one OpenCL device: one context, one in-order command queue.
///
/// `execute` only enqueues; `read` (a blocking read) and `synchronize` (`clFinish`) are
/// the sync points; `write` is blocking. Programs are built lazily per family on first
/// use, once per backend, through the on-disk binary cache (`OpenCLProgramCache`).
///
/// Thread safety: one recursive lock guards the command queue, the kernel and program
/// caches, the ledger and the buffer pool (the pool shares it), so callers may use the
/// backend from any thread.
final class OpenCLBackend: Backend, @unchecked Sendable {
    let device: Device
    let info: DeviceInfo
    let supportsFloat64: Bool
    let deviceID: cl_device_id
    let context: cl_context
    let queue: cl_command_queue
    let programCache: OpenCLProgramCache
    /// Compiler options shared by every program.
    let buildOptions: String
    /// The device's preferred work-group size multiple (warp / wavefront / SIMD width).
    private(set) var preferredMultiple = 1
    /// CL_DEVICE_MAX_COMPUTE_UNITS: work-groups that run at once (SMs, CUs, cores).
    let computeUnits: Int
    /// Which tiled GEMM kernel runs (`ADJOINT_OPENCL_GEMM=32|64|128`; tests set it directly).
    var gemmTiles = OpenCLGEMMTiles.fromEnvironment { didSet { lock.withLock { gemmPlans.removeAll() } } }
    /// Launches between explicit `clFlush` calls (0: none; the driver submits on its own
    /// and sync points flush). On the H200 every flush cost host time and bought no
    /// overlap: W3's jitted step ran 0.335 ms with none, 0.47-0.54 ms flushing every 1, 8
    /// or 32 launches (docs/PERFORMANCE.md). `ADJOINT_OPENCL_FLUSH=N` sets it, for measuring.
    let flushInterval = ProcessInfo.processInfo.environment["ADJOINT_OPENCL_FLUSH"].flatMap { Int($0) } ?? 0
    /// Launches since the last flush (lock held).
    var unflushedLaunches = 0
    /// Which products run through CLBlast when it loads (`CLBlast.Use`); tests set it.
    var gemmLibrary = CLBlast.Use.fromEnvironment
    /// Whether 128×128 products run the prefetching kernel (`matmul_large_prefetch`);
    /// `ADJOINT_OPENCL_GEMM_PREFETCH=0|1` overrides it, for measuring; tests set it.
    var gemmPrefetch = ProcessInfo.processInfo.environment["ADJOINT_OPENCL_GEMM_PREFETCH"] == "1" { didSet { lock.withLock { gemmPlans.removeAll() } } }
    /// Whether long products and column sums with few outputs split (`kSlices`,
    /// `columnParts`); `ADJOINT_OPENCL_SPLIT=0` turns both off, for measuring.
    var splitting = ProcessInfo.processInfo.environment["ADJOINT_OPENCL_SPLIT"] != "0" { didSet { lock.withLock { gemmPlans.removeAll() } } }
    /// The compute units the splitting rules size work for (`OpenCLGEMMTiles.kSlices`,
    /// `columnParts`); nil: the device's. Tests set it, and `ADJOINT_OPENCL_SPLIT_UNITS=N`
    /// does for a whole run (the suite on PoCL with N = 4096 splits nearly every product
    /// and column sum, as a 132-SM GPU would).
    var splitKUnits: Int? = ProcessInfo.processInfo.environment["ADJOINT_OPENCL_SPLIT_UNITS"].flatMap { Int($0) } { didSet { lock.withLock { gemmPlans.removeAll() } } }
    /// Whether matrix-vector products use the work-group-per-row kernel: on GPUs, unless
    /// `ADJOINT_OPENCL_GEMV=naive` (for measuring both); tests set it.
    lazy var gemvRowDot = info.isGPU && ProcessInfo.processInfo.environment["ADJOINT_OPENCL_GEMV"] != "naive"

    let lock = NSRecursiveLock()
    let pool: OpenCLBufferPool
    /// Whether launches keep profiling events (`ADJOINT_PROFILE=1`, OpenCLBackend+Profile).
    let profiling: Bool
    /// Launches whose events the next sync point reads (profiling only).
    var pendingEvents: [(name: String, event: cl_event)] = []
    /// The device time read from finished events so far (profiling only).
    var profile = KernelProfile()
    var stats = Ledger()
    private var programs: [String: cl_program] = [:]
    private var kernels: [String: Kernel] = [:]
    /// jit's fused kernels by what they compute, so a replay skips generating their source.
    var fusedKernels: [FusedKernel: Kernel] = [:]
    /// jit's horizontal kernels, likewise.
    var horizontalKernels: [HorizontalKernel: Kernel] = [:]
    /// jit's row kernels, likewise.
    var rowKernels: [RowKernel: Kernel] = [:]
    /// Each product shape's GEMM kernel and k-slices (`gemmPlan`); emptied when a setting
    /// above changes (`gemvRowDot`, lazy, is part of the key).
    var gemmPlans: [GEMMPlanKey: (choice: OpenCLGEMMKernel, chosen: Kernel, parts: Int, depth: Int)] = [:]

    /// What a GEMM plan depends on.
    struct GEMMPlanKey: Hashable {
        var dtype: DType
        var batch, m, n, k: Int
        var rowMajorA: Bool
        var rowDot: Bool
    }
    /// Whether jit runs its launch-saving passes here (`FusingBackend.launchBound`): on
    /// GPUs, or where `ADJOINT_JIT_TOGETHER=1|0` says (the test script turns it on for PoCL).
    lazy var launchBound: Bool = ProcessInfo.processInfo.environment["ADJOINT_JIT_TOGETHER"].map { $0 == "1" } ?? info.isGPU
    /// `cl_khr_command_buffer` on this device (nil: `commandBufferSupport` says why not, and
    /// recordings are launch lists; `ADJOINT_OPENCL_COMMAND_BUFFERS=0` makes them so anyway).
    let commandBuffers: OpenCLCommandBufferAPI?
    /// "cl_khr_command_buffer", or why command buffers are not used here.
    let commandBufferSupport: String
    /// The command buffer launches go into instead of the queue (`record`; lock held).
    var recording: OpenCLCommandBuffer?

    /// A created kernel and the work-group size it launches with.
    struct Kernel {
        /// The kernel function's name.
        var name: String
        var handle: cl_kernel
        /// CL_KERNEL_WORK_GROUP_SIZE for this kernel on this device.
        var maxWorkGroup: Int
        /// The 1-D local size used for elementwise launches.
        var local: Int
    }

    /// The families, each one program: `common.cl` + `<family>.cl`.
    static let familySources: [String: @Sendable () -> String] = [
        "elementwise": { KernelSources.elementwise },
        "reduce": { KernelSources.reduce },
        "movement": { KernelSources.movement },
        "matmul": { KernelSources.matmul },
        "random": { KernelSources.random },
    ]

    /// The full program text of a family: `common.cl` then `<family>.cl`.
    static func source(family: String) -> String? {
        familySources[family].map { KernelSources.common + "\n" + $0() }
    }

    init(found: OpenCLRuntime.Found, cacheDirectory: URL?, profiling: Bool = OpenCLBackend.profilingRequested) throws {
        device = found.info.device
        info = found.info
        supportsFloat64 = found.info.supportsFloat64
        deviceID = found.device
        computeUnits = Int(OpenCLRuntime.deviceValue(found.device, cl_device_info(CL_DEVICE_MAX_COMPUTE_UNITS)) as cl_uint? ?? 1)
        var status: cl_int = CL_SUCCESS
        var deviceRef: cl_device_id? = found.device
        guard let context = clCreateContext(nil, 1, &deviceRef, nil, nil, &status), status == CL_SUCCESS else {
            throw OpenCLStatus.error(status, "clCreateContext(\(found.deviceName))")
        }
        self.profiling = profiling
        let properties = cl_command_queue_properties(profiling ? CL_QUEUE_PROFILING_ENABLE : 0)
        guard let queue = clCreateCommandQueue(context, found.device, properties, &status), status == CL_SUCCESS else {
            clReleaseContext(context)
            throw OpenCLStatus.error(status, "clCreateCommandQueue(\(found.deviceName))")
        }
        self.context = context
        self.queue = queue
        if ProcessInfo.processInfo.environment["ADJOINT_OPENCL_COMMAND_BUFFERS"] == "0" {
            (commandBuffers, commandBufferSupport) = (nil, "ADJOINT_OPENCL_COMMAND_BUFFERS=0")
        } else {
            (commandBuffers, commandBufferSupport) = OpenCLCommandBufferAPI.load(platform: found.platform, device: found.device, queueProperties: properties)
        }
        programCache = OpenCLProgramCache(directory: cacheDirectory, platformName: found.platformName, deviceName: found.deviceName, driverVersion: found.driverVersion)
        buildOptions = "-cl-std=CL1.2" + (found.info.supportsFloat64 ? " -DADJOINT_FP64=1" : "")
        let maxAlloc: cl_ulong = OpenCLRuntime.deviceValue(found.device, cl_device_info(CL_DEVICE_MAX_MEM_ALLOC_SIZE)) ?? 0
        let capacity = max(64 << 20, min(Int(clamping: cl_ulong(found.info.memoryBytes) / 4), 4 << 30, Int(clamping: maxAlloc) * 2))
        pool = OpenCLBufferPool(context: context, lock: lock, capacity: capacity)  // retains the context
    }

    deinit {
        clFinish(queue)
        for (_, kernel) in kernels { clReleaseKernel(kernel.handle) }
        for (_, program) in programs { clReleaseProgram(program) }
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    // MARK: - Memory

    func allocate(byteCount: Int) throws -> DeviceBuffer {
        precondition(byteCount >= 0, "allocate: negative byte count \(byteCount)")
        let buffer = try pool.allocate(byteCount: byteCount, deviceName: "\(device) (\(info.name))")
        // Memory a recorded launch uses lives as long as the recording.
        if let recording = lock.withLock({ recording }) { recording.held.append(buffer) }
        return buffer
    }

    func write(_ bytes: UnsafeRawBufferPointer, to buffer: DeviceBuffer) throws {
        let target = clBuffer(buffer)
        precondition(bytes.count <= target.byteCount, "write: \(bytes.count) bytes into a \(target.byteCount)-byte buffer")
        guard bytes.count > 0, let base = bytes.baseAddress else { return }
        lock.lock()
        defer { lock.unlock() }
        try requireNotRecording("write")
        try OpenCLStatus.check(clEnqueueWriteBuffer(queue, target.mem, cl_bool(CL_TRUE), 0, bytes.count, base, 0, nil, nil), "clEnqueueWriteBuffer(\(bytes.count) bytes)")
        stats.bytesToDevice += bytes.count
    }

    func read(_ buffer: DeviceBuffer, into bytes: UnsafeMutableRawBufferPointer) throws {
        let source = clBuffer(buffer)
        precondition(bytes.count <= source.byteCount, "read: \(bytes.count) bytes from a \(source.byteCount)-byte buffer")
        lock.lock()
        defer { lock.unlock() }
        try requireNotRecording("read")
        guard bytes.count > 0, let base = bytes.baseAddress else {
            try OpenCLStatus.check(clFinish(queue), "clFinish")
            return
        }
        try OpenCLStatus.check(clEnqueueReadBuffer(queue, source.mem, cl_bool(CL_TRUE), 0, bytes.count, base, 0, nil, nil), "clEnqueueReadBuffer(\(bytes.count) bytes)")
        stats.bytesFromDevice += bytes.count
        if profiling { harvestEvents() }
    }

    func synchronize() throws {
        lock.lock()
        defer { lock.unlock() }
        try requireNotRecording("synchronize")
        try OpenCLStatus.check(clFinish(queue), "clFinish")
        if profiling { harvestEvents() }
    }

    var ledger: Ledger {
        lock.lock()
        defer { lock.unlock() }
        var result = stats
        let memory = pool.stats
        result.poolHits = memory.poolHits
        result.poolMisses = memory.poolMisses
        result.liveBytes = memory.liveBytes
        result.peakBytes = memory.peakBytes
        result.pooledBytes = memory.pooledBytes
        result.liveBuffers = memory.liveBuffers
        return result
    }

    func recordFallback(_ call: Primitive) {
        lock.lock()
        defer { lock.unlock() }
        stats.cpuFallbacks += 1
        if ProcessInfo.processInfo.environment["ADJOINT_LOG"] == "1" {
            print("adjoint: \(call) ran on the CPU instead of \(device)")
        }
    }

    func emptyPool() { pool.empty() }

    func clBuffer(_ buffer: DeviceBuffer) -> OpenCLBuffer {
        guard let buffer = buffer as? OpenCLBuffer else {
            preconditionFailure("\(device): buffer \(type(of: buffer)) was not allocated by an OpenCL backend")
        }
        return buffer
    }

    // MARK: - Programs and kernels

    /// The built program of `family` (lock held).
    private func program(_ family: String, generated: String? = nil) throws -> cl_program {
        if let program = programs[family] { return program }
        guard let source = generated ?? OpenCLBackend.source(family: family) else { throw AdjointError.unsupported("no OpenCL kernel family \(family)") }
        let (program, origin) = try programCache.program(name: family, source: source, options: buildOptions, context: context, device: deviceID)
        switch origin {
        case .compiled: stats.programsCompiled += 1
        case .cached: stats.programsLoadedFromCache += 1
        }
        if ProcessInfo.processInfo.environment["ADJOINT_LOG"] == "1" {
            print("adjoint: \(device) program '\(family)' \(origin == .compiled ? "compiled" : "loaded from cache")")
        }
        programs[family] = program
        return program
    }

    /// The kernel `name` of `family` (lock held), created on first use; `generated` is the
    /// source of a family made at run time (jit's fused kernels).
    func kernel(_ name: String, family: String, generated: String? = nil) throws -> Kernel {
        if let kernel = kernels[name] { return kernel }
        let program = try program(family, generated: generated)
        var status: cl_int = CL_SUCCESS
        guard let handle = clCreateKernel(program, name, &status), status == CL_SUCCESS else {
            throw OpenCLStatus.error(status, "clCreateKernel(\(name))")
        }
        var maxGroup = 0
        var multiple = 0
        clGetKernelWorkGroupInfo(handle, deviceID, cl_kernel_work_group_info(CL_KERNEL_WORK_GROUP_SIZE), MemoryLayout<Int>.size, &maxGroup, nil)
        clGetKernelWorkGroupInfo(handle, deviceID, cl_kernel_work_group_info(CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE), MemoryLayout<Int>.size, &multiple, nil)
        maxGroup = max(maxGroup, 1)
        multiple = max(multiple, 1)
        preferredMultiple = max(preferredMultiple, multiple)
        // 256 work-items (a multiple of every common warp/wavefront size) when allowed.
        var local = min(256, maxGroup)
        if local >= multiple { local -= local % multiple }
        let kernel = Kernel(name: name, handle: handle, maxWorkGroup: maxGroup, local: max(local, 1))
        kernels[name] = kernel
        return kernel
    }

    /// Counts enqueued kernels (lock held): one launch, or a replayed recording's.
    func countLaunch(_ launches: Int = 1) {
        stats.launches += launches
        LaunchCount.record(launches)
        unflushedLaunches += launches
        if flushInterval > 0 && unflushedLaunches >= flushInterval {
            clFlush(queue)
            unflushedLaunches = 0
        }
    }
}
