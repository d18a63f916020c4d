// The kit's error replies in the trainer's words: the server's `reason` (or, failing that, its
// `code`) and field name translated to Dutch or English, never an HTTP status or a JSON path; and
// a form's errors placed at the field they are about, with focus.
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ErrorReply } from '../../schemas.js';
import type { Lang, T } from './i18n.js';

type ErrorParams = NonNullable<ErrorReply['error']['params']>;

/** An error answer of the kit (status 0: no answer at all). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** The server's stable name of what is wrong (for a translated message), and its values. */
    readonly reason?: string,
    readonly params?: ErrorParams,
  ) {
    super(message);
  }
}

type Table = Record<string, string>;

/** Messages for the server's `reason`s; `{name}` is filled from the error's params. */
const REASONS: Record<Lang, Table> = {
  nl: {
    pin_wrong: 'Verkeerde pincode.',
    pin_not_configured: 'Op deze kit is nog geen pincode ingesteld; laat de kit eerst inschrijven.',
    login_required: 'Eerst inloggen.',
    kit_locked: 'De kit is vergrendeld: vul de pincode in.',
    viewer_not_allowed: 'Dit kan alleen op de telefoon van de trainer.',
    case_code_needs_digits: 'Gebruik een code met minstens twee cijfers, bijvoorbeeld GZ-0042; nooit een naam.',
    case_exists: 'Deze casus bestaat al.',
    case_not_found: 'Deze casus bestaat niet (meer).',
    case_closed: 'Deze casus is afgesloten: er kan niet meer bij worden opgenomen.',
    case_no_recording_consent: 'Voor deze casus is er geen toestemming om op te nemen.',
    clip_unassigned: 'Kies eerst een casus voor deze opname.',
    consent_missing: 'Voor deze casus is er geen toestemming voor {scope}.',
    take_running: 'Er loopt al een opname.',
    no_take: 'Er loopt geen opname: start eerst een opname.',
    camera_not_ready: 'De camera neemt niet op; kijk of hij goed is aangesloten.',
    camera_not_armed: 'De camera staat niet aan.',
    storage_full: 'De opslag van de kit is vol: er kan niet worden opgenomen.',
    marker_label_unknown: 'Dit label kent de kit niet.',
    clip_not_found: 'Deze opname bestaat niet (meer).',
    clip_still_recording: 'Deze opname loopt nog.',
    clip_already_assigned: 'Deze opname hoort al bij een andere casus.',
    delete_confirm_mismatch: 'De bevestiging klopt niet; er is niets verwijderd.',
    time_past_clip_end: 'Dit tijdstip ligt na het einde van de opname.',
    loop_end_before_start: 'Het einde van de lus ligt vóór het begin.',
    still_not_jpeg: 'De still is geen geldig beeld.',
    nothing_presented: 'Er wordt niets op de tv getoond.',
    pairing_none: 'Er wacht geen koppelcode: maak een nieuwe op de telefoon.',
    pairing_expired: 'De koppelcode is verlopen: maak een nieuwe op de telefoon.',
    pairing_burnt: 'Te vaak een verkeerde code: maak een nieuwe op de telefoon.',
    pairing_wrong: 'Verkeerde koppelcode; nog {triesLeft} pogingen.',
    sync_off: 'Uploaden staat uit op deze kit.',
    csrf_missing: 'De pagina is verouderd: laad haar opnieuw.',
    csrf_wrong: 'De pagina is verouderd: laad haar opnieuw.',
    cross_origin: 'Dit verzoek kwam niet van de pagina van de kit.',
    host_not_kit: 'Dit adres is niet dat van de kit.',
    body_too_large: 'Dit is te groot om te versturen.',
  },
  en: {
    pin_wrong: 'Wrong PIN.',
    pin_not_configured: 'This kit has no PIN yet; have it enrolled first.',
    login_required: 'Log in first.',
    kit_locked: 'The kit is locked: enter the PIN.',
    viewer_not_allowed: "Only the trainer's phone can do this.",
    case_code_needs_digits: 'Use a code with at least two digits, e.g. GZ-0042; never a name.',
    case_exists: 'This case exists already.',
    case_not_found: 'This case does not exist (any more).',
    case_closed: 'This case is closed: no more recording for it.',
    case_no_recording_consent: 'This case has no consent for recording.',
    clip_unassigned: 'Choose a case for this clip first.',
    consent_missing: 'This case has no consent for {scope}.',
    take_running: 'A take is running already.',
    no_take: 'No take is running: start one first.',
    camera_not_ready: 'The camera is not recording; check that it is plugged in.',
    camera_not_armed: 'The camera is off.',
    storage_full: "The kit's storage is full: no recording possible.",
    marker_label_unknown: 'The kit does not know this label.',
    clip_not_found: 'This clip does not exist (any more).',
    clip_still_recording: 'This clip is still recording.',
    clip_already_assigned: 'This clip belongs to another case already.',
    delete_confirm_mismatch: 'The confirmation does not match; nothing was deleted.',
    time_past_clip_end: 'This time is past the end of the clip.',
    loop_end_before_start: 'The end of the loop is before its start.',
    still_not_jpeg: 'The still is not a valid image.',
    nothing_presented: 'Nothing is shown on the TV.',
    pairing_none: 'No pairing code is waiting: make a new one on the phone.',
    pairing_expired: 'The pairing code has expired: make a new one on the phone.',
    pairing_burnt: 'Too many wrong codes: make a new one on the phone.',
    pairing_wrong: 'Wrong pairing code; {triesLeft} tries left.',
    sync_off: 'Uploading is off on this kit.',
    csrf_missing: 'The page is out of date: reload it.',
    csrf_wrong: 'The page is out of date: reload it.',
    cross_origin: "This request did not come from the kit's page.",
    host_not_kit: "This address is not the kit's.",
    body_too_large: 'This is too large to send.',
  },
};

/** Messages for a field's check that failed (`<field>_<check>`, from the server's schemas). */
const CHECKS: Record<Lang, Table> = {
  nl: {
    missing: 'Vul dit in.',
    invalid_format: 'Dit heeft niet de juiste vorm.',
    invalid_string: 'Dit heeft niet de juiste vorm.',
    too_small: 'Te kort of te klein (minstens {minimum}).',
    too_big: 'Te lang of te groot (hoogstens {maximum}).',
    invalid_value: 'Kies een van de mogelijkheden.',
    invalid_type: 'Deze waarde klopt niet.',
    unrecognized_keys: 'Onbekende velden.',
  },
  en: {
    missing: 'Fill this in.',
    invalid_format: 'This is not in the right form.',
    invalid_string: 'This is not in the right form.',
    too_small: 'Too short or too small (at least {minimum}).',
    too_big: 'Too long or too large (at most {maximum}).',
    invalid_value: 'Choose one of the options.',
    invalid_type: 'This value is not right.',
    unrecognized_keys: 'Unknown fields.',
  },
};

/** Messages by error code, when there is no reason the page knows. */
const CODES: Record<Lang, Table> = {
  nl: {
    NETWORK: 'Geen verbinding met de kit.',
    UNAUTHORIZED: 'Eerst inloggen.',
    FORBIDDEN: 'Dat mag niet.',
    NOT_FOUND: 'Niet gevonden.',
    CONFLICT: 'Dat kan nu niet.',
    LOCKED: 'De kit is vergrendeld: vul de pincode in.',
    TOO_MANY_ATTEMPTS: 'Te vaak een verkeerde code: wacht even en probeer het dan opnieuw.',
    STORAGE_FULL: 'De opslag van de kit is vol.',
    CAMERA_NOT_READY: 'De camera is niet klaar.',
    NOT_CONFIGURED: 'De kit is hier nog niet voor ingesteld.',
    VALIDATION: 'Deze invoer klopt niet.',
    BAD_REQUEST: 'Deze invoer klopt niet.',
    MISDIRECTED: 'Dit adres is niet dat van de kit.',
    INTERNAL: 'Er ging iets mis in de kit; probeer het opnieuw.',
    HTTP: 'De kit gaf een onverwacht antwoord.',
  },
  en: {
    NETWORK: 'No connection to the kit.',
    UNAUTHORIZED: 'Log in first.',
    FORBIDDEN: 'Not allowed.',
    NOT_FOUND: 'Not found.',
    CONFLICT: 'That is not possible now.',
    LOCKED: 'The kit is locked: enter the PIN.',
    TOO_MANY_ATTEMPTS: 'Too many wrong codes: wait a moment and try again.',
    STORAGE_FULL: "The kit's storage is full.",
    CAMERA_NOT_READY: 'The camera is not ready.',
    NOT_CONFIGURED: 'The kit is not set up for this yet.',
    VALIDATION: 'This input is not right.',
    BAD_REQUEST: 'This input is not right.',
    MISDIRECTED: "This address is not the kit's.",
    INTERNAL: 'Something went wrong in the kit; try again.',
    HTTP: 'The kit gave an unexpected answer.',
  },
};

/** The fields' names as the forms show them. */
const FIELDS: Record<Lang, Table> = {
  nl: {
    code: 'Pseudoniem',
    trajectory: 'Traject',
    consent: 'Toestemming',
    recording: 'Toestemming voor opnemen',
    review: 'Toestemming voor nabespreken',
    supervision: 'Toestemming voor supervisie',
    training: 'Toestemming voor scholing',
    pin: 'Pincode',
    caseCode: 'Casus',
    label: 'Label',
    offsetMs: 'Tijd',
    confirm: 'Bevestiging',
  },
  en: {
    code: 'Pseudonym',
    trajectory: 'Trajectory',
    consent: 'Consent',
    recording: 'Consent for recording',
    review: 'Consent for review',
    supervision: 'Consent for supervision',
    training: 'Consent for training',
    pin: 'PIN',
    caseCode: 'Case',
    label: 'Label',
    offsetMs: 'Time',
    confirm: 'Confirmation',
  },
};

const fill = (s: string, params: ErrorParams, t: T) =>
  s.replace(/\{(\w+)\}/g, (_, k: string) => (params[k] === undefined ? '' : k === 'scope' ? t.term(String(params[k])) : String(params[k])));

/** The last name of an error's field path (`body.consent.recording` → `recording`); null without one. */
export function fieldKey(err: ApiError): string | null {
  if (!err.field) return null;
  const parts = err.field.split('.').filter((p) => !/^[0-9]+$/.test(p));
  return parts[parts.length - 1] ?? null;
}

/** The field's name in the page's language (null for a field a trainer never sees). */
export function fieldName(key: string | null, t: T): string | null {
  return key === null ? null : (FIELDS[t.lang][key] ?? null);
}

/** The message of an API error, without the field's name: by reason, by the field's failed check, else by code. */
export function reasonText(err: ApiError, t: T): string {
  const params = err.params ?? {};
  const own = err.reason ? REASONS[t.lang][err.reason] : undefined;
  if (own) return fill(own, params, t);
  const key = fieldKey(err);
  const snake = key?.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  const check = err.reason && snake && err.reason.startsWith(`${snake}_`) ? CHECKS[t.lang][err.reason.slice(snake.length + 1)] : undefined;
  if (check) return fill(check, params, t);
  return CODES[t.lang][err.status === 0 ? 'NETWORK' : err.code] ?? CODES[t.lang].HTTP!;
}

/** A message for the user in one language: "<field>: <what is wrong>", never a status or a JSON path. */
export function errorText(err: unknown, t: T): string {
  if (err instanceof ApiError) {
    const name = fieldName(fieldKey(err), t);
    const text = reasonText(err, t);
    return name && err.code === 'VALIDATION' ? `${name}: ${text}` : text;
  }
  return `${t('errorPrefix')}: ${err instanceof Error ? err.message : String(err)}`;
}

/** The error shown at a form's field: the element's id and the message. */
export interface FieldError {
  id: string;
  text: string;
}

/**
 * A form's errors at their fields. `fields` maps the server's field names (the last part of the
 * path) to the ids of the form's controls. `show(err)` puts an error at its field, marks the
 * control (aria-invalid, aria-describedby → the message) and focuses it; it returns false for an
 * error that is not about one of the form's fields (the page shows it as it shows others).
 */
export function useFieldErrors(fields: Record<string, string>, t: T) {
  const [error, setError] = useState<FieldError | null>(null);
  useEffect(() => {
    if (error) document.getElementById(error.id)?.focus();
  }, [error]);
  const show = useCallback(
    (err: unknown): boolean => {
      const key = err instanceof ApiError ? fieldKey(err) : null;
      const id = key ? fields[key] : undefined;
      if (!id || !(err instanceof ApiError)) return false;
      setError({ id, text: reasonText(err, t) });
      return true;
    },
    [fields, t],
  );
  /** The attributes of the control with this id (and its hint's id, when it has one). */
  const attrs = (id: string, hint?: string) => {
    const bad = error?.id === id;
    const describedBy = [hint, bad ? `${id}-error` : undefined].filter(Boolean).join(' ');
    return { 'aria-invalid': bad ? ('true' as const) : undefined, 'aria-describedby': describedBy || undefined };
  };
  return { error, show, clear: () => setError(null), set: setError, attrs };
}
