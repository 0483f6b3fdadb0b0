/// Whether differentiable ops record the autodiff graph (task-local, default on).
enum GradMode {
    @TaskLocal static var isEnabled = true
}

/// Runs `body` without recording gradients: results have no `gradFn`.
///
/// ```swift
/// let y = noGrad { x * 2 }   // y.requiresGrad == false
/// ```
public func noGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(false, operation: body)
}

/// Runs `body` with gradient recording on, also inside `noGrad`.
public func enableGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(true, operation: body)
}

/// Whether ops are currently recorded for autodiff.
public var isGradEnabled: Bool { GradMode.isEnabled }
