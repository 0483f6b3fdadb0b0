import Foundation

/// STUB: replaced by the CPU backend implementation.
public final class CPUBackend: Backend, @unchecked Sendable {
    static var processorName: String { "CPU" }
    public var device: Device { .cpu }
    public var supportsFloat64: Bool { true }
    init() {}
    public func allocate(byteCount: Int) throws -> DeviceBuffer { fatalError("stub") }
    public func write(_ bytes: UnsafeRawBufferPointer, to buffer: DeviceBuffer) throws { fatalError("stub") }
    public func read(_ buffer: DeviceBuffer, into bytes: UnsafeMutableRawBufferPointer) throws { fatalError("stub") }
    public func supports(_ call: Primitive, inputs: [DType], output: DType) -> Bool { true }
    public func execute(_ call: Primitive, inputs: [BufferView], output: BufferView) throws { fatalError("stub") }
    public func synchronize() throws {}
    public var ledger: Ledger { Ledger() }
    public func recordFallback(_ call: Primitive) {}
    public func emptyPool() {}
}
