#!/usr/bin/env node
// Draws the app and tray icons as PNGs (no image tools needed): a padlock,
// white on a blue tile for the app, in the state's colour for the tray.
// Usage: node scripts/make-icons.js   (writes build/icons/*.png, build/icon.png, build/tray/*.png)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const BUILD = path.join(__dirname, '..', 'build');

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** RGBA pixels (size*size*4) → PNG bytes: 8-bit RGBA, no filtering. */
function png(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// Shapes in a unit square (0..1), as "is this point inside" tests.
function roundRect(x, y, x0, y0, x1, y1, r) {
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}
function padlock(x, y) {
  const body = roundRect(x, y, 0.2, 0.45, 0.8, 0.9, 0.06);
  // The shackle: a half ring above the body, with straight legs down into it.
  const cx = 0.5, cy = 0.38, ro = 0.25, ri = 0.15;
  const d = Math.hypot(x - cx, y - cy);
  const arc = y <= cy && d <= ro && d >= ri;
  const legs = y > cy && y < 0.5 && ((x >= cx - ro && x <= cx - ri) || (x >= cx + ri && x <= cx + ro));
  const keyhole = Math.hypot(x - 0.5, y - 0.63) <= 0.06 || (x >= 0.47 && x <= 0.53 && y >= 0.63 && y <= 0.78);
  return (body && !keyhole) || arc || legs;
}

/** Render with 4×4 samples per pixel; `paint(x, y)` returns [r, g, b, a] or null. */
function render(size, paint) {
  const out = Buffer.alloc(size * size * 4);
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const c = paint((px + (sx + 0.5) / n) / size, (py + (sy + 0.5) / n) / size);
          if (!c) continue;
          r += c[0] * c[3];
          g += c[1] * c[3];
          b += c[2] * c[3];
          a += c[3];
        }
      }
      const i = (py * size + px) * 4;
      if (a > 0) {
        out[i] = Math.round(r / a);
        out[i + 1] = Math.round(g / a);
        out[i + 2] = Math.round(b / a);
      }
      out[i + 3] = Math.round((a / (n * n)) * 255);
    }
  }
  return out;
}

const hex = (h) => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16), 1];
const TRAY = { idle: '#8a8f98', active: '#2e9d4f', prompt: '#e8a317', down: '#d64541' };
const BLUE = hex('#2563a8');
const WHITE = hex('#ffffff');

function appIcon(x, y) {
  if (!roundRect(x, y, 0.04, 0.04, 0.96, 0.96, 0.18)) return null;
  const inner = (v) => (v - 0.18) / 0.64;
  return padlock(inner(x), inner(y)) ? WHITE : BLUE;
}

function write(file, bytes) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  console.log(`wrote ${path.relative(path.join(__dirname, '..'), file)}`);
}

for (const size of [16, 32, 48, 64, 128, 256, 512]) {
  write(path.join(BUILD, 'icons', `${size}x${size}.png`), png(size, render(size, appIcon)));
}
write(path.join(BUILD, 'icon.png'), png(512, render(512, appIcon)));
for (const [state, colour] of Object.entries(TRAY)) {
  const c = hex(colour);
  const paint = (x, y) => (padlock(x, y) ? c : null);
  write(path.join(BUILD, 'tray', `${state}.png`), png(16, render(16, paint)));
  write(path.join(BUILD, 'tray', `${state}@2x.png`), png(32, render(32, paint)));
}
