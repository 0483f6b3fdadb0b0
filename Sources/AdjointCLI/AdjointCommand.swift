import Adjoint
import ArgumentParser
import Foundation

/// The `adjoint` command.
@main
struct AdjointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adjoint",
        abstract: "Differentiable tensor programs on OpenCL devices and the CPU.",
        subcommands: [DevicesCommand.self, TrainCommand.self, EvalCommand.self, BenchForwardCommand.self, CheckCommand.self, FitCommand.self]
    )
}

/// Parses `--device` values.
struct DeviceOption: ExpressibleByArgument {
    let device: Device

    init?(argument: String) {
        guard let device = Device(parsing: argument) else { return nil }
        self.device = device
    }
}

/// Resolves `--device` (or the default device) and checks that it works.
func resolveDevice(_ option: DeviceOption?) throws -> Device {
    let device = try option?.device ?? Device.resolveDefault()
    try device.validate()
    return device
}
