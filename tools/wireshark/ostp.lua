-- OSP Jam: Wireshark / tshark dissector for OSTP's RTP header extension (profile 0x4F53).
--
-- Load with `tshark -X lua_script:tools/wireshark/ostp.lua ...` or copy into Wireshark's
-- personal plugins folder. Decode the UDP port as RTP first (`-d udp.port==N,rtp`).
--
-- Fields: ostp.stream_id, ostp.seq_ext, ostp.media_ts, and the generated ostp.seq32
-- ((seq_ext << 16) | rtp.seq). The CRC-32 in RTP padding is shown by Wireshark's own RTP
-- dissector as rtp.padding.data; see docs/protocol.md for the layout.

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
