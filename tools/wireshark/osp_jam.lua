-- OSP Jam: Wireshark / tshark dissectors for OSTP's RTP header extension (profile 0x4F53) and
-- for OSP control frames ("OSP1" magic). docs/protocol.md is the specification.
--
-- Load with `tshark -X lua_script:tools/wireshark/osp_jam.lua ...` or copy into Wireshark's
-- personal plugins folder.
--
-- OSTP: decode the UDP port as RTP first (`-d udp.port==N,rtp`). Fields: ostp.stream_id,
-- ostp.seq_ext, ostp.media_ts, and the generated ostp.seq32 ((seq_ext << 16) | rtp.seq). The
-- CRC-32 in RTP padding is shown by Wireshark's own RTP dissector as rtp.padding.data.
--
-- OSP: found heuristically on any UDP port by its magic. Fields: osp.seq, osp.timestamp,
-- osp.type, osp.length, osp.crc, osp.crc_ok (generated: the CRC-32 recomputed here), and
-- per-message fields under osp.audio.*, osp.ping.*, osp.clock.*, osp.transport.*, osp.chat.*,
-- osp.stream.*, osp.resend.*, osp.handshake.*.

local ostp = Proto("ostp", "OSTP header extension")

local f_stream_id = ProtoField.uint16("ostp.stream_id", "Stream ID", base.HEX)
local f_seq_ext = ProtoField.uint16("ostp.seq_ext", "Sequence (high 16 bits)", base.DEC)
local f_media_ts = ProtoField.uint32("ostp.media_ts", "Media timestamp (48 kHz ticks)", base.DEC)
local f_seq32 = ProtoField.uint32("ostp.seq32", "Extended sequence (32 bits)", base.DEC)
ostp.fields = { f_stream_id, f_seq_ext, f_media_ts, f_seq32 }

local rtp_seq = Field.new("rtp.seq")

local STREAM_NAMES = { [0x0001] = "primary", [0xFFFF] = "parity" }

function ostp.dissector(tvb, pinfo, tree)
  -- The RTP dissector hands us the extension body (after profile and length).
  if tvb:len() < 8 then
    return 0
  end
  local subtree = tree:add(ostp, tvb(0, 8))
  local stream_id = tvb(0, 2):uint()
  local item = subtree:add(f_stream_id, tvb(0, 2))
  if STREAM_NAMES[stream_id] then
    item:append_text(" (" .. STREAM_NAMES[stream_id] .. ")")
  end
  subtree:add(f_seq_ext, tvb(2, 2))
  subtree:add(f_media_ts, tvb(4, 4))
  local seq = rtp_seq()
  if seq then
    local full = tvb(2, 2):uint() * 65536 + seq.value
    subtree:add(f_seq32, full):set_generated()
  end
  return 8
end

DissectorTable.get("rtp.hdr_ext"):add(0x4F53, ostp)

------------------------------------------------------------------------------------------------
-- OSP control frames
------------------------------------------------------------------------------------------------

local osp = Proto("osp", "OSP control frame")

local MESSAGE_NAMES = {
  [0x0001] = "AudioFrame", [0x0002] = "AudioLevels", [0x0003] = "ClockSync",
  [0x0004] = "BeatPosition", [0x0101] = "TrackState", [0x0102] = "EffectParam",
  [0x0103] = "EffectBypass", [0x0104] = "Transport", [0x0105] = "TempoChange",
  [0x0106] = "StemMix", [0x0107] = "MonitoringState", [0x0201] = "UserJoin",
  [0x0202] = "UserLeave", [0x0203] = "TrackCreate", [0x0204] = "TrackDelete",
  [0x0205] = "EffectChain", [0x0206] = "Permission", [0x0207] = "ChatMessage",
  [0x0208] = "PerformanceInfo", [0x0209] = "SongChange", [0x020A] = "LoopState",
  [0x020B] = "LyriaState", [0x020C] = "RoomState", [0x020D] = "StreamAnnounce",
  [0x020E] = "TransportSync", [0x0301] = "Ping", [0x0302] = "Pong",
  [0x0303] = "MasterElection", [0x0304] = "RelaySwitch", [0x0305] = "QualityPreset",
  [0x0306] = "Handshake", [0x0307] = "HandshakeAck", [0x0308] = "Disconnect",
  [0x0309] = "Heartbeat", [0x030A] = "ResendRequest", [0x030B] = "ClockProbe",
  [0x030C] = "ClockReply", [0x030D] = "PeerHello", [0x030E] = "PeerAuth",
  [0x030F] = "PeerLeave",
}
local CODECS = { [0] = "PCM f32 LE", [1] = "Opus" }
local ENCODINGS = { [0] = "Opus", [1] = "L16", [2] = "L24" }

local f = {
  seq = ProtoField.uint16("osp.seq", "Sequence", base.DEC),
  timestamp = ProtoField.uint16("osp.timestamp", "Timestamp (ms mod 65536)", base.DEC),
  type = ProtoField.uint16("osp.type", "Message", base.HEX, MESSAGE_NAMES),
  length = ProtoField.uint16("osp.length", "Payload length", base.DEC),
  crc = ProtoField.uint32("osp.crc", "CRC-32", base.HEX),
  crc_ok = ProtoField.bool("osp.crc_ok", "CRC-32 valid"),
  payload = ProtoField.bytes("osp.payload", "Payload"),
  audio_user = ProtoField.uint32("osp.audio.user_id", "Peer id", base.HEX),
  audio_track = ProtoField.uint8("osp.audio.track_id", "Track", base.DEC),
  audio_codec = ProtoField.uint8("osp.audio.codec", "Codec", base.DEC, CODECS),
  audio_channels = ProtoField.uint8("osp.audio.channels", "Channels", base.DEC),
  audio_samples = ProtoField.uint16("osp.audio.sample_count", "Samples per channel", base.DEC),
  audio_data = ProtoField.bytes("osp.audio.data", "Audio data"),
  ping_id = ProtoField.uint32("osp.ping.id", "Ping id", base.DEC),
  ping_send = ProtoField.uint64("osp.ping.send_time", "Send time (ms)", base.DEC),
  ping_recv = ProtoField.uint64("osp.ping.recv_time", "Receive time (ms)", base.DEC),
  clock_probe = ProtoField.uint32("osp.clock.probe_id", "Probe id", base.DEC),
  clock_t1 = ProtoField.uint64("osp.clock.t1_us", "T1 (µs)", base.DEC),
  clock_t2 = ProtoField.uint64("osp.clock.t2_us", "T2 (µs)", base.DEC),
  clock_t3 = ProtoField.uint64("osp.clock.t3_us", "T3 (µs)", base.DEC),
  ts_version = ProtoField.uint32("osp.transport.version", "Version", base.DEC),
  ts_playing = ProtoField.bool("osp.transport.playing", "Playing"),
  ts_bpm = ProtoField.double("osp.transport.bpm", "Tempo (BPM)"),
  ts_num = ProtoField.uint8("osp.transport.beats_per_bar", "Beats per bar", base.DEC),
  ts_den = ProtoField.uint8("osp.transport.beat_unit", "Beat unit", base.DEC),
  ts_tick = ProtoField.uint64("osp.transport.anchor_tick", "Anchor tick (48 kHz)", base.DEC),
  ts_beat = ProtoField.double("osp.transport.anchor_beat", "Anchor beat"),
  chat_user = ProtoField.string("osp.chat.user_id", "User id"),
  chat_name = ProtoField.string("osp.chat.user_name", "User name"),
  chat_content = ProtoField.string("osp.chat.content", "Content"),
  stream_user = ProtoField.uint32("osp.stream.user_id", "Peer id", base.HEX),
  stream_count = ProtoField.uint64("osp.stream.count", "Streams", base.DEC),
  stream_ssrc = ProtoField.uint32("osp.stream.ssrc", "SSRC", base.HEX),
  stream_id = ProtoField.uint16("osp.stream.stream_id", "Stream id", base.HEX),
  stream_pt = ProtoField.uint8("osp.stream.payload_type", "Payload type", base.DEC),
  stream_encoding = ProtoField.uint32("osp.stream.encoding", "Encoding", base.DEC, ENCODINGS),
  resend_count = ProtoField.uint64("osp.resend.count", "Sequences", base.DEC),
  resend_seq = ProtoField.uint16("osp.resend.seq", "Sequence", base.DEC),
  hs_version = ProtoField.uint32("osp.handshake.version", "Protocol version", base.DEC),
  hs_user = ProtoField.string("osp.handshake.user_id", "User id"),
  hs_room = ProtoField.string("osp.handshake.room_id", "Room id"),
  peer_version = ProtoField.uint32("osp.peer.version", "Handshake version", base.DEC),
  peer_user = ProtoField.uint32("osp.peer.user_id", "Peer id", base.DEC),
  peer_nonce = ProtoField.bytes("osp.peer.nonce", "Nonce"),
  peer_from = ProtoField.uint32("osp.peer.from", "From peer", base.DEC),
  peer_to = ProtoField.uint32("osp.peer.to", "To peer", base.DEC),
  peer_from_nonce = ProtoField.bytes("osp.peer.from_nonce", "From nonce"),
  peer_to_nonce = ProtoField.bytes("osp.peer.to_nonce", "To nonce (echoed)"),
  peer_reason = ProtoField.uint8("osp.peer.reason", "Leave reason", base.DEC),
  peer_tag = ProtoField.bytes("osp.peer.tag", "HMAC-SHA256 tag"),
}
local field_list = {}
for _, field in pairs(f) do
  table.insert(field_list, field)
end
osp.fields = field_list

-- CRC-32 (zlib), table-driven.
local CRC_TABLE = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if bit32.band(c, 1) == 1 then
      c = bit32.bxor(0xEDB88320, bit32.rshift(c, 1))
    else
      c = bit32.rshift(c, 1)
    end
  end
  CRC_TABLE[i] = c
end

local function crc32(bytes, from, to, crc)
  for i = from, to - 1 do
    crc = bit32.bxor(CRC_TABLE[bit32.band(bit32.bxor(crc, bytes:get_index(i)), 0xFF)],
      bit32.rshift(crc, 8))
  end
  return crc
end

-- bincode 1.x: a String is a u64 LE length then UTF-8 bytes. Returns the new offset or nil.
local function add_string(tree, field, tvb, at)
  if at + 8 > tvb:len() then return nil end
  local len = tvb(at, 8):le_uint64():tonumber()
  if at + 8 + len > tvb:len() then return nil end
  if len == 0 then
    tree:add(field, tvb(at, 8), "")
  else
    tree:add(field, tvb(at + 8, len), tvb(at + 8, len):string(ENC_UTF_8))
  end
  return at + 8 + len
end

local PAYLOADS = {}

PAYLOADS[0x0001] = function(tvb, tree)
  if tvb:len() < 9 then return end
  tree:add_le(f.audio_user, tvb(0, 4))
  tree:add(f.audio_track, tvb(4, 1))
  tree:add(f.audio_codec, tvb(5, 1))
  tree:add(f.audio_channels, tvb(6, 1))
  tree:add_le(f.audio_samples, tvb(7, 2))
  if tvb:len() > 9 then tree:add(f.audio_data, tvb(9)) end
end

PAYLOADS[0x0301] = function(tvb, tree)
  if tvb:len() < 12 then return end
  tree:add_le(f.ping_id, tvb(0, 4))
  tree:add_le(f.ping_send, tvb(4, 8))
end

PAYLOADS[0x0302] = function(tvb, tree)
  if tvb:len() < 20 then return end
  tree:add_le(f.ping_id, tvb(0, 4))
  tree:add_le(f.ping_send, tvb(4, 8))
  tree:add_le(f.ping_recv, tvb(12, 8))
end

PAYLOADS[0x030B] = function(tvb, tree)
  if tvb:len() < 12 then return end
  tree:add_le(f.clock_probe, tvb(0, 4))
  tree:add_le(f.clock_t1, tvb(4, 8))
end

PAYLOADS[0x030C] = function(tvb, tree)
  if tvb:len() < 28 then return end
  tree:add_le(f.clock_probe, tvb(0, 4))
  tree:add_le(f.clock_t1, tvb(4, 8))
  tree:add_le(f.clock_t2, tvb(12, 8))
  tree:add_le(f.clock_t3, tvb(20, 8))
end

PAYLOADS[0x020E] = function(tvb, tree)
  if tvb:len() < 31 then return end
  tree:add_le(f.ts_version, tvb(0, 4))
  tree:add(f.ts_playing, tvb(4, 1))
  tree:add_le(f.ts_bpm, tvb(5, 8))
  tree:add(f.ts_num, tvb(13, 1))
  tree:add(f.ts_den, tvb(14, 1))
  tree:add_le(f.ts_tick, tvb(15, 8))
  tree:add_le(f.ts_beat, tvb(23, 8))
end

PAYLOADS[0x0207] = function(tvb, tree)
  local at = add_string(tree, f.chat_user, tvb, 0)
  if at then at = add_string(tree, f.chat_name, tvb, at) end
  if at then add_string(tree, f.chat_content, tvb, at) end
end

PAYLOADS[0x020D] = function(tvb, tree)
  if tvb:len() < 16 then return end
  tree:add_le(f.stream_user, tvb(0, 4))
  tree:add_le(f.stream_count, tvb(8, 8))
  -- Each StreamInfo: ssrc u32, stream_id u16, track u8, pt u8, encoding u32, channels u8,
  -- clock_rate u32, frame_samples u32, crc u32, parity Option<(u32, u8, u8)>.
  local at = 16
  while at + 25 <= tvb:len() do
    tree:add_le(f.stream_ssrc, tvb(at, 4))
    tree:add_le(f.stream_id, tvb(at + 4, 2))
    tree:add(f.stream_pt, tvb(at + 7, 1))
    tree:add_le(f.stream_encoding, tvb(at + 8, 4))
    local parity = tvb(at + 25, 1):uint()
    at = at + 26 + (parity == 1 and 6 or 0)
  end
end

-- Our peer handshake (docs/protocol.md §10): u32 fields LE, nonces and tags 32 raw bytes.
PAYLOADS[0x030D] = function(tvb, tree)
  if tvb:len() < 40 then return end
  tree:add_le(f.peer_version, tvb(0, 4))
  tree:add_le(f.peer_user, tvb(4, 4))
  tree:add(f.peer_nonce, tvb(8, 32))
end

PAYLOADS[0x030E] = function(tvb, tree)
  -- from, to, two nonces, the StreamAnnounce, then the tag.
  if tvb:len() < 104 then return end
  tree:add_le(f.peer_from, tvb(0, 4))
  tree:add_le(f.peer_to, tvb(4, 4))
  tree:add(f.peer_from_nonce, tvb(8, 32))
  tree:add(f.peer_to_nonce, tvb(40, 32))
  local announce = tvb:len() - 104
  if announce > 0 then
    PAYLOADS[0x020D](tvb(72, announce):tvb(), tree:add(osp, tvb(72, announce), "StreamAnnounce"))
  end
  tree:add(f.peer_tag, tvb(tvb:len() - 32, 32))
end

PAYLOADS[0x030F] = function(tvb, tree)
  if tvb:len() < 41 then return end
  tree:add_le(f.peer_from, tvb(0, 4))
  tree:add_le(f.peer_to, tvb(4, 4))
  tree:add(f.peer_reason, tvb(8, 1))
  tree:add(f.peer_tag, tvb(9, 32))
end

PAYLOADS[0x030A] = function(tvb, tree)
  if tvb:len() < 8 then return end
  local n = tvb(0, 8):le_uint64():tonumber()
  tree:add_le(f.resend_count, tvb(0, 8))
  for i = 0, n - 1 do
    local at = 8 + 2 * i
    if at + 2 > tvb:len() then break end
    tree:add_le(f.resend_seq, tvb(at, 2))
  end
end

-- Handshake: protocol_version, user_id, user_name (skipped), room_id.
PAYLOADS[0x0306] = function(tvb, tree)
  if tvb:len() < 4 then return end
  tree:add_le(f.hs_version, tvb(0, 4))
  local at = add_string(tree, f.hs_user, tvb, 4)
  if not at or at + 8 > tvb:len() then return end
  at = at + 8 + tvb(at, 8):le_uint64():tonumber()
  if at <= tvb:len() then add_string(tree, f.hs_room, tvb, at) end
end

local function dissect_osp(tvb, pinfo, tree)
  if tvb:len() < 16 or tvb(0, 4):string() ~= "OSP1" then
    return 0
  end
  local n = tvb(10, 2):le_uint()
  if tvb:len() < 16 + n then
    return 0
  end
  pinfo.cols.protocol = "OSP"
  local id = tvb(8, 2):le_uint()
  local name = MESSAGE_NAMES[id] or string.format("unknown 0x%04x", id)
  pinfo.cols.info = string.format("%s seq=%d", name, tvb(4, 2):le_uint())
  local subtree = tree:add(osp, tvb(0, 16 + n), "OSP " .. name)
  subtree:add_le(f.seq, tvb(4, 2))
  subtree:add_le(f.timestamp, tvb(6, 2))
  subtree:add_le(f.type, tvb(8, 2))
  subtree:add_le(f.length, tvb(10, 2))
  local bytes = tvb:bytes()
  local crc = crc32(bytes, 0, 10, 0xFFFFFFFF)
  crc = bit32.bnot(crc32(bytes, 12, 12 + n, crc))
  local stored = tvb(12 + n, 4):le_uint()
  subtree:add_le(f.crc, tvb(12 + n, 4))
  subtree:add(f.crc_ok, crc == stored):set_generated()
  if n > 0 then
    local payload = tvb(12, n):tvb()
    local body = subtree:add(f.payload, tvb(12, n))
    if PAYLOADS[id] then
      PAYLOADS[id](payload, body)
    end
  end
  return 16 + n
end

function osp.dissector(tvb, pinfo, tree)
  return dissect_osp(tvb, pinfo, tree)
end

osp:register_heuristic("udp", function(tvb, pinfo, tree)
  return dissect_osp(tvb, pinfo, tree) > 0
end)
