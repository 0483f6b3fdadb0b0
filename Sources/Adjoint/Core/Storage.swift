/// The memory behind one or more tensors: a device buffer, or the environment error that
/// prevented it from being produced.
///
/// Storage is immutable once its producing primitive has been submitted: views share it,
/// and ops always write fresh storage. A failed allocation or launch yields a *failed*
/// storage; ops on it produce failed storage without launching, and reading it throws the
/// original `AdjointError`. That is how asynchronous device errors surface at the next
/// host read, as in CUDA-backed frameworks, without corrupting other tensors.
final class Storage: @unchecked Sendable {
    let device: Device
    let dtype: DType
    let buffer: DeviceBuffer?
    let failure: AdjointError?
    /// The value of every element, for the cached scalar constants (`Tensor.constant`),
    /// so arithmetic on two of them is done on the host (`Tensor.binary`). Set before the
    /// storage is shared, never changed.
    var constantValue: Double?

    init(device: Device, dtype: DType, buffer: DeviceBuffer) {
        self.device = device
        self.dtype = dtype
        self.buffer = buffer
        self.failure = nil
    }

    init(device: Device, dtype: DType, failure: AdjointError) {
        self.device = device
        self.dtype = dtype
        self.buffer = nil
        self.failure = failure
    }
}
