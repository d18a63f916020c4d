import { describe, expect, it } from 'vitest';
import { EventBus, KIT_EVENT_NAMES, TV_ACTIONS, type KitEvents } from '../src/core/events.js';
import { controlBody, tvControlEvent } from '../src/web/schemas.js';

describe('the event bus and the vocabulary', () => {
  it('onAny forwards every event of the list, and stops after unsubscribing', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    const off = bus.onAny((name) => seen.push(name));
    for (const n of KIT_EVENT_NAMES) bus.emit(n, {} as KitEvents[typeof n]);
    expect(seen).toEqual([...KIT_EVENT_NAMES]);
    off();
    bus.emit('tv.ack', { id: 1 });
    expect(seen).toHaveLength(KIT_EVENT_NAMES.length);
  });

  it('calls listeners in order; one added during an emit waits for the next; the same function twice is called twice', () => {
    const bus = new EventBus();
    const calls: string[] = [];
    const twice = (p: { id: number }) => calls.push(`twice ${p.id}`);
    bus.on('tv.ack', twice);
    bus.on('tv.ack', (p) => {
      calls.push(`adder ${p.id}`);
      if (p.id === 1) bus.on('tv.ack', (q) => calls.push(`late ${q.id}`));
    });
    const offSecond = bus.on('tv.ack', twice);
    bus.emit('tv.ack', { id: 1 });
    expect(calls).toEqual(['twice 1', 'adder 1', 'twice 1']);
    offSecond();
    calls.length = 0;
    bus.emit('tv.ack', { id: 2 });
    expect(calls).toEqual(['twice 2', 'adder 2', 'late 2']);
  });

  it('a listener that throws reaches the emitter, as with EventEmitter', () => {
    const bus = new EventBus();
    bus.on('dock', () => {
      throw new Error('listener failed');
    });
    expect(() => bus.emit('dock', { docked: true, source: 'test' })).toThrow('listener failed');
  });

  it("the TV actions of the API are the bus's, every one accepted by the control body", () => {
    expect(controlBody.safeParse({ action: 'dance' }).success).toBe(false);
    const needs: Record<string, object> = { rate: { rate: 0.5 }, seek: { time: 1 }, step: { direction: 1 }, marker: { direction: -1 }, loop: { loop: [1, 2] } };
    for (const action of TV_ACTIONS) {
      const body = { action, ...(needs[action] ?? {}) };
      expect({ action, ok: controlBody.safeParse(body).success }).toEqual({ action, ok: true });
      expect(tvControlEvent.safeParse({ ...body, source: 'phone', id: 1 }).success).toBe(true);
    }
  });
});
