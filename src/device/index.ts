/** The kit's hardware I/O: button, LEDs, serial kit controller, and their simulated twins. */
export * from './button.js';
export * from './factory.js';
export * from './gpio.js';
export * from './kit-controller.js';
export * from './kit-protocol.js';
export * from './leds.js';
export * from './press.js';
export { TypedEmitter } from './emitter.js';
