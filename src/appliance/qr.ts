import qrcode from 'qrcode-generator';
import { AppError } from '../core/errors.js';

/**
 * The kit's QR codes (the Wi-Fi join code) through the maintained `qrcode-generator` library:
 * byte mode, the smallest version that holds the text, the library's best mask.
 */
export type EccLevel = 'L' | 'M';

export interface QrCode {
  version: number;
  ecc: EccLevel;
  size: number;
  /** modules[y][x]: true = dark. */
  modules: boolean[][];
  /** The library's symbol, for its renderers. */
  symbol: ReturnType<typeof qrcode>;
}

/** Quiet zone around the code, in modules (the spec asks for 4). */
const QUIET = 4;

/** Encodes `text` (UTF-8) at level `ecc` in the smallest version that holds it (at most version 40). */
export function encodeQr(text: string, ecc: EccLevel = 'M'): QrCode {
  // The library's byte mode takes one character per byte: hand it the UTF-8 bytes as such.
  const bytes = String.fromCharCode(...new TextEncoder().encode(text));
  const symbol = qrcode(0, ecc);
  try {
    symbol.addData(bytes, 'Byte');
    symbol.make();
  } catch (err) {
    throw new AppError('VALIDATION', `QR text: ${bytes.length} bytes do not fit a QR code at level ${ecc}`, { field: 'text', cause: err });
  }
  const size = symbol.getModuleCount();
  const modules = Array.from({ length: size }, (_, y) => Array.from({ length: size }, (_, x) => symbol.isDark(y, x)));
  return { version: (size - 17) / 4, ecc, size, modules, symbol };
}

/** The code for a terminal: two modules a character (▀ ▄ █), dark drawn as blank so it reads on dark and light themes. */
export function qrToTerminal(qr: QrCode): string {
  return `${qr.symbol.createASCII(1, QUIET)}\n`;
}

/** The code as a standalone, scalable SVG. */
export function qrToSvg(qr: QrCode): string {
  return qr.symbol.createSvgTag({ cellSize: 1, margin: QUIET, scalable: true });
}
