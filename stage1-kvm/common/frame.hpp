// Wire format between the host side of stage1-kvm (enter, stop) and the guest
// agent (guest/boot.cpp), carried over a virtio-serial port (or AF_VSOCK).
//
// Every message is a frame: 1 type byte, a 4-byte little-endian payload
// length, then the payload. Header-only and libc-only: the guest side is a
// static binary in the initramfs.
#pragma once
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <string>

namespace podkvm {

// Names of the virtio-serial ports (guest: /sys/class/virtio-ports/*/name) and
// of the host-side unix sockets in $P/stage1-state/ that qemu serves them on.
inline constexpr const char kCtlPort[] = "pod.ctl";
inline constexpr const char kEnterPort[] = "pod.enter";
inline constexpr const char kNotifyPort[] = "pod.notify";
inline constexpr const char kCtlSocket[] = "ctl.sock";
inline constexpr const char kEnterSocket[] = "enter.sock";
inline constexpr uint32_t kMaxFrame = 1 << 20;

enum FrameType : uint8_t {
  // host -> guest
  kReqEnter = 'R',   // JSON {"app": name, "argv": [...], "tty": bool}
  kStdin = 'I',      // stdin bytes
  kStdinEof = 'E',   // stdin closed
  kReqStop = 'S',    // ctl port: "graceful" or "force"
  kReqControl = 'C', // ctl port: a pod init control request (stage1/init/control.hpp), JSON; answered
                     // by kAck with the init's JSON reply, or kError
  // guest -> host
  kStdout = 'O',     // enter port: the command's stdout; notify port: the pod init's (the apps' output)
  kStderr = 'e',     // the same for stderr
  kExit = 'X',       // decimal exit status of the entered command
  kError = 'F',      // the agent could not run the command; message
  kAck = 'A',        // ctl port: request accepted
  kNotify = 'N',     // notify port: "<app>\n<sd_notify message>" (app "" = the pod init)
};

inline bool write_all(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads exactly n bytes; false on EOF or error.
inline bool read_all(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

inline bool send_frame(int fd, uint8_t type, const void* data, size_t len) {
  unsigned char hdr[5] = {type, static_cast<unsigned char>(len & 0xff),
                          static_cast<unsigned char>((len >> 8) & 0xff),
                          static_cast<unsigned char>((len >> 16) & 0xff),
                          static_cast<unsigned char>((len >> 24) & 0xff)};
  return write_all(fd, hdr, 5) && (len == 0 || write_all(fd, data, len));
}

inline bool send_frame(int fd, uint8_t type, const std::string& s) {
  return send_frame(fd, type, s.data(), s.size());
}

struct Frame {
  uint8_t type = 0;
  std::string data;
};

// Blocking read of one frame; false on EOF, error or an oversized frame.
inline bool recv_frame(int fd, Frame& f) {
  unsigned char hdr[5];
  if (!read_all(fd, hdr, 5)) return false;
  uint32_t len = hdr[1] | (hdr[2] << 8) | (hdr[3] << 16) | (static_cast<uint32_t>(hdr[4]) << 24);
  if (len > kMaxFrame) return false;
  f.type = hdr[0];
  f.data.resize(len);
  return len == 0 || read_all(fd, f.data.data(), len);
}

}  // namespace podkvm
