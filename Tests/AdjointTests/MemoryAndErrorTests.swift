import Adjoint
import AdjointTestSupport
import Testing

/// Steady-state memory and the error contract: programmer mistakes stop with a message
/// naming the op, shapes and call site; environment failures throw `AdjointError`.
@Suite struct MemoryAndErrorTests {
    /// Runs in its own process (an exit test) so no parallel test touches the ledgers.
    @Test func tenThousandSmallOpsHoldLiveMemoryFlat() async {
        await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            for device in TestDevices.all {
                try withDevice(device) { () throws in
                    var w = Tensor([0.5, -0.25, 1] as [Float]).requiringGrad()
                    let x = Tensor([1, 2, 3] as [Float])
                    func step() {
                        let loss = ((w * x).sum() - 1).pow(2)
                        loss.backward()
                        w = (w.detach() - 0.01 * w.grad!).requiringGrad()
                    }
                    for _ in 0..<100 { step() }
                    try device.synchronize()
                    let before = device.ledger
                    for _ in 0..<10_000 { step() }
                    try device.synchronize()
                    let after = device.ledger
                    func require(_ condition: Bool, _ message: String) {
                        if !condition { fatalError("\(device): \(message); before \(before), after \(after)") }
                    }
                    require(after.liveBytes == before.liveBytes, "live bytes grew")
                    require(after.liveBuffers == before.liveBuffers, "live buffers grew")
                    require(after.peakBytes <= before.peakBytes + 4096, "peak grew")
                    require(after.poolHits > before.poolHits + 10_000, "steady state does not allocate from the pool")
                    require(after.poolMisses - before.poolMisses < 16, "steady state misses the pool")
                    _ = try w.doubles()
                }
            }
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(!message.contains("Fatal error"), "\(message)")
        }
    }

    @Test func shapeMismatchNamesTheOpTheShapesAndTheCallSite() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let a = Tensor.ones([2, 3], on: .cpu), b = Tensor.ones([4, 5], on: .cpu)
            _ = a.matmul(b)
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("Adjoint.matmul: inner dimensions differ: [2, 3] x [4, 5]"))
            #expect(message.contains("MemoryAndErrorTests.swift:"))
        }
    }

    @Test func broadcastMismatchNamesTheShapes() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 3], on: .cpu) + Tensor.ones([4], on: .cpu)
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("Adjoint.add: shapes [2, 3] and [4] cannot be broadcast together"))
        }
    }

    @Test func badAxisIsRefused() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 3], on: .cpu).sum(axes: [2])
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("Adjoint.sum: axis 2 is out of range for shape [2, 3]"))
        }
    }

    @Test func mixingDevicesNamesBothDevices() async throws {
        guard TestDevices.openCL != nil else {
            _ = TestDevices.requireOpenCL()
            return
        }
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let gpu = Device.available.first { $0.device != .cpu }!.device
            _ = Tensor.ones([2], on: .cpu) * Tensor.ones([2], on: gpu)
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("Adjoint.mul: operands on different devices: cpu and opencl:0"))
        }
    }

    @Test func missingDeviceThrowsAndLeavesOtherTensorsUsable() throws {
        let good = Tensor([1, 2] as [Float], on: .cpu)
        let missing = Device.opencl(99)
        #expect(throws: AdjointError.self) { try missing.validate() }
        let orphan = Tensor.ones([2], on: missing)
        #expect(orphan.failure != nil)
        #expect(throws: AdjointError.self) { try (orphan * 2).doubles() }
        do {
            _ = try orphan.doubles()
        } catch let error as AdjointError {
            #expect(error.description.contains("opencl:99"))
        }
        #expect(try (good * 2).doubles() == [2, 4])
    }

    @Test func devicesParseAndList() {
        #expect(Device(parsing: "cpu") == .cpu)
        #expect(Device(parsing: "opencl") == .opencl(0))
        #expect(Device(parsing: "opencl:2") == .opencl(2))
        #expect(Device(parsing: "cuda") == nil)
        #expect(Device.available.first?.device == .cpu)
        #expect(Device.available.first?.supportsFloat64 == true)
        let scoped = withDevice(.cpu) { Device.default }
        #expect(scoped == .cpu)
        #expect(withDevice(.cpu) { Tensor.ones([1]).device } == .cpu)
    }
}

/// Out-of-memory is an environment failure: it throws at the read and spares other tensors.
@Suite struct OutOfMemoryTests {
    @Test(arguments: TestDevices.all)
    func impossibleAllocationThrowsAndLeavesOtherTensorsUsable(device: Device) throws {
        let survivor = Tensor([1, 2, 3] as [Float], on: device)
        let huge = Tensor.zeros([1 << 22, 1 << 22], on: device)
        #expect(huge.failure != nil)
        do {
            _ = try (huge + 1).sum().doubles()
            Issue.record("reading an impossible allocation did not throw")
        } catch let error as AdjointError {
            switch error {
            case .outOfMemory, .openCL: break
            default: Issue.record("unexpected error \(error)")
            }
        }
        #expect(try (survivor * 2).doubles() == [2, 4, 6])
        #expect(try Tensor.ones([1000], on: device).sum().item(as: Float.self) == 1000)
    }
}
