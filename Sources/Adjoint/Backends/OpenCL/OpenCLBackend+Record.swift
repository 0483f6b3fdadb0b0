import COpenCL
import Foundation

/// Recording launches into an `OpenCLCommandBuffer` and replaying it: jit's recorded
/// replays (`RecordingBackend`), where one enqueue runs a whole program.
extension OpenCLBackend: RecordingBackend {
    var canRecord: Bool { commandBuffers != nil && !profiling }

    /// Where launches are what costs (`launchBound`: GPUs), unless `ADJOINT_JIT_RECORD=0|1` says.
    var recordsByDefault: Bool { ProcessInfo.processInfo.environment["ADJOINT_JIT_RECORD"].map { $0 == "1" } ?? launchBound }

    func record(_ body: () throws -> Void) throws -> RecordedCommands {
        guard let api = commandBuffers, !profiling else {
            throw AdjointError.unsupported("recording on \(device): \(profiling ? "profiling is on" : commandBufferSupport)")
        }
        lock.lock()
        defer { lock.unlock() }
        precondition(recording == nil, "OpenCLBackend.record: already recording")
        var status: cl_int = CL_SUCCESS
        var queues: [cl_command_queue?] = [queue]
        var handle: OpaquePointer?
        if api.simultaneousUse {
            let properties: [cl_ulong] = [OpenCLCommandBufferAPI.flagsProperty, OpenCLCommandBufferAPI.simultaneousUseFlag, 0]
            handle = api.create(1, &queues, properties, &status)
        }
        if handle == nil { handle = api.create(1, &queues, nil, &status) }
        guard let handle, status == CL_SUCCESS else { throw OpenCLStatus.error(status, "clCreateCommandBufferKHR") }
        let commands = OpenCLCommandBuffer(handle: handle, api: api, lock: lock)
        recording = commands
        defer { recording = nil }
        try body()
        try OpenCLStatus.check(api.finalize(handle), "clFinalizeCommandBufferKHR(\(commands.commandCount) commands)")
        return commands
    }

    func replay(_ recorded: RecordedCommands) throws {
        let commands = recorded as! OpenCLCommandBuffer
        lock.lock()
        defer { lock.unlock() }
        if let last = commands.lastRun {
            // Without simultaneous use a command buffer runs once at a time.
            if !commands.api.simultaneousUse { try OpenCLStatus.check(clWaitForEvents(1, [last]), "clWaitForEvents(command buffer)") }
            clReleaseEvent(last)
            commands.lastRun = nil
        }
        var event: cl_event?
        try OpenCLStatus.check(commands.api.enqueue(0, nil, commands.handle, 0, nil, &event), "clEnqueueCommandBufferKHR(\(commands.commandCount) commands)")
        commands.lastRun = event
        stats.recordedReplays += 1
        countLaunch(commands.commandCount)
    }

    func copy(_ source: DeviceBuffer, into target: DeviceBuffer, byteCount: Int) throws {
        guard byteCount > 0 else { return }
        let from = clBuffer(source), to = clBuffer(target)
        precondition(byteCount <= min(from.byteCount, to.byteCount), "copy: \(byteCount) bytes between buffers of \(from.byteCount) and \(to.byteCount)")
        lock.lock()
        defer { lock.unlock() }
        try requireNotRecording("copy")
        try OpenCLStatus.check(clEnqueueCopyBuffer(queue, from.mem, to.mem, 0, 0, byteCount, 0, nil, nil), "clEnqueueCopyBuffer(\(byteCount) bytes)")
    }

    /// Records one launch (lock held): a kernel object of its own, its arguments set once.
    func recordLaunch(_ kernel: Kernel, args: [OpenCLArg], global: [Int], local: [Int]?, into commands: OpenCLCommandBuffer) throws {
        var program: cl_program?
        try OpenCLStatus.check(clGetKernelInfo(kernel.handle, cl_kernel_info(CL_KERNEL_PROGRAM), MemoryLayout<cl_program?>.size, &program, nil), "clGetKernelInfo(\(kernel.name))")
        var status: cl_int = CL_SUCCESS
        guard let own = clCreateKernel(program, kernel.name, &status), status == CL_SUCCESS else {
            throw OpenCLStatus.error(status, "clCreateKernel(\(kernel.name)) for a command buffer")
        }
        commands.kernels.append(own)
        try setArgs(own, named: kernel.name, args)
        status = global.withUnsafeBufferPointer { g in
            (local ?? []).withUnsafeBufferPointer { l in
                commands.api.record(commands.handle, nil, nil, own, cl_uint(g.count), nil, g.baseAddress, local == nil ? nil : l.baseAddress, 0, nil, nil, nil)
            }
        }
        try OpenCLStatus.check(status, "clCommandNDRangeKernelKHR(\(kernel.name), global \(global))")
    }

    /// Throws when a command buffer is being recorded (lock held): only launches record;
    /// reads, writes, copies and library calls run at once, out of the recorded order.
    func requireNotRecording(_ what: String) throws {
        if recording != nil { throw AdjointError.unsupported("\(what) on \(device) while recording a command buffer") }
    }
}
