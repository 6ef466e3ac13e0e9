import HummingbirdWSClient
import NIOWebSocket

extension WebSocketDataFrame {
    /// The same frame, to send on: a relay passes frames as they came, fragments included.
    package var outgoing: WebSocketFrame { WebSocketFrame(fin: fin, opcode: opcode.frameOpcode, data: data) }
}

extension WebSocketDataFrame.Opcode {
    var frameOpcode: WebSocketOpcode {
        switch self {
        case .text: .text
        case .binary: .binary
        case .continuation: .continuation
        }
    }
}
