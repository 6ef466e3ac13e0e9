import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

extension HTTPServerBuilder {
    /// HTTP/1.1 with phone calls' WebSocket upgrade, and a deadline for each connection's first request head. The
    /// upgrade's channel (hummingbird-websocket 2.8.1, `WebSocketChannel.swift`) starts its idle timeout only once a
    /// head has come, so without it a client that never ends its head would hold its connection for good
    /// (slowloris); plain HTTP/1.1 times such a connection out.
    static func http1WebSocketUpgrade(
        webSocketRouter: Router<CallSocketContext>,
        configuration: HTTP1WebSocketUpgradeChannel.Configuration,
        headDeadline: TimeAmount
    ) -> HTTPServerBuilder {
        let webSocketResponder = webSocketRouter.buildResponder()
        return .init { responder in
            HeadDeadlineChannel(
                base: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                deadline: headDeadline
            )
        }
    }
}

/// A server channel whose connections are closed when their first request head has not ended by the deadline.
struct HeadDeadlineChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base
    let deadline: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        do {
            // First in the pipeline: it sees the bytes before the HTTP decoder does.
            try channel.pipeline.syncOperations.addHandler(HeadDeadlineHandler(deadline: deadline))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return base.setup(channel: channel, logger: logger)
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Closes its connection unless the first request head (up to its blank line) has come within `deadline`; then it
/// steps out of the pipeline.
final class HeadDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let deadline: TimeAmount
    private var timer: Scheduled<Void>?
    /// The last bytes seen, for a blank line split across reads.
    private var tail: [UInt8] = []

    init(deadline: TimeAmount) { self.deadline = deadline }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: deadline) { bound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let ended = headEnds(in: buffer)
        context.fireChannelRead(data)
        if ended {
            timer?.cancel()
            timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    private func headEnds(in buffer: ByteBuffer) -> Bool {
        let blankLine: [UInt8] = [13, 10, 13, 10]
        var window = tail
        window.append(contentsOf: buffer.readableBytesView)
        if window.count >= 4 {
            for index in 0...(window.count - 4) where window[index..<index + 4].elementsEqual(blankLine) { return true }
        }
        tail = Array(window.suffix(3))
        return false
    }
}
