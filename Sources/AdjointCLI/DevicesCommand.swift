import Adjoint
import ArgumentParser

/// `adjoint devices`: lists every device and the default.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the CPU and every OpenCL device, and which one is the default."
    )

    func run() throws {
        for info in Device.available {
            // Whether jit runs its launch-saving passes there (row kernels, kernels launched
            // together, recorded replays where the device records).
            print("\(info)" + (info.device.jitSavesLaunches ? ", jit saves launches" : ""))
        }
        if let reason = Device.openCLUnavailableReason {
            print("OpenCL: none (\(reason))")
        }
        print("default: \(try Device.resolveDefault()) (set ADJOINT_DEVICE=cpu|opencl|opencl:N to choose)")
    }
}
