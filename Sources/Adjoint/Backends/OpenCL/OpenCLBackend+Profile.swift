import COpenCL
import Foundation

/// `ADJOINT_PROFILE=1`: the queue is created with profiling on, every launch keeps its
/// event, and the sync points turn finished events into `KernelProfile` entries.
extension OpenCLBackend {
    /// Whether this process profiles its OpenCL launches (`ADJOINT_PROFILE=1`).
    static let profilingRequested = ProcessInfo.processInfo.environment["ADJOINT_PROFILE"] == "1"

    /// Keeps the event of a launch of `name` (a kernel's, or a library's such as CLBlast's)
    /// until the next sync point (lock held). Past 4,096 pending events it waits for them,
    /// so a long run without syncs keeps bounded memory.
    func keep(_ event: cl_event, named name: String) {
        pendingEvents.append((name, event))
        if pendingEvents.count >= 4096 {
            clFinish(queue)
            harvestEvents()
        }
    }

    /// Reads and releases every pending event (lock held; all of them finished: called
    /// after `clFinish` or a blocking read on the in-order queue).
    func harvestEvents() {
        guard !pendingEvents.isEmpty else { return }
        var intervals: [(start: UInt64, end: UInt64)] = []
        intervals.reserveCapacity(pendingEvents.count)
        for (name, event) in pendingEvents {
            var start: cl_ulong = 0, end: cl_ulong = 0
            let readStart = clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_START), MemoryLayout<cl_ulong>.size, &start, nil)
            let readEnd = clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_END), MemoryLayout<cl_ulong>.size, &end, nil)
            clReleaseEvent(event)
            guard readStart == CL_SUCCESS, readEnd == CL_SUCCESS else { continue }
            profile.record(name, start: start, end: end)
            intervals.append((start, end))
        }
        pendingEvents.removeAll(keepingCapacity: true)
        intervals.sort { $0.start < $1.start }
        var busy: UInt64 = 0
        var current: (start: UInt64, end: UInt64)?
        for interval in intervals {
            if let open = current, interval.start <= open.end {
                current = (open.start, Swift.max(open.end, interval.end))
            } else {
                if let open = current { busy += open.end - open.start }
                current = interval
            }
        }
        if let open = current { busy += open.end &- open.start }
        profile.busyNanoseconds += busy
    }

    /// The kernels' device time so far (nil unless profiling); waits for queued work.
    var kernelProfile: KernelProfile? {
        guard profiling else { return nil }
        lock.lock()
        defer { lock.unlock() }
        clFinish(queue)
        harvestEvents()
        return profile
    }
}
