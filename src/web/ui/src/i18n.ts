// Every string of the web app, Dutch first and English second, in one table. The chosen language
// is remembered in localStorage ("vht-lang").
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { teamEn, teamNl } from './i18n-team.js';
import { REVIEW_EN, REVIEW_NL } from './i18n-review.js';

const nl = {
  ...REVIEW_NL,
  appName: 'VHT Kit',
  language: 'Language: English',
  languageSwitchTo: 'en',
  loading: 'Laden…',
  // login
  loginTitle: 'Inloggen',
  pinLabel: 'Pincode trainer',
  loginButton: 'Inloggen',
  logout: 'Uitloggen',
  // navigation
  navRemote: 'Bediening',
  navLibrary: 'Opnamen',
  navPlayer: 'Afspelen',
  menu: 'Menu',
  tvSection: 'Tv',
  // remote
  stateIdle: 'Camera uit',
  stateArmed: 'Klaar om op te nemen',
  stateRecording: 'Opname loopt',
  stateError: 'Storing camera',
  start: 'Opname starten',
  stop: 'Opname stoppen',
  arm: 'Camera aanzetten',
  reviewLast: 'Laatste opname terugkijken',
  timer: 'Opnametijd',
  preRollNote: 'inclusief {s} s vooraf',
  preRollBadge: '+{s} s vooraf',
  markersTitle: 'Moment markeren',
  markMoment: 'Markeren',
  markerAdded: 'Gemarkeerd: {label} op {time}',
  markerTick: 'Markering {label} op {time}',
  timeline: 'Tijdlijn',
  caseTitle: 'Gezin (casus)',
  caseNone: 'Nog geen casus (later toewijzen)',
  caseSelect: 'Casus voor de volgende opname',
  caseNew: 'Nieuwe casus',
  caseCode: 'Pseudoniem (code, geen naam)',
  caseCodeHint: 'Bijvoorbeeld GZ-0042: letters, cijfers en streepjes, minstens twee cijfers.',
  trajectory: 'Traject',
  consent: 'Toestemming',
  consentNone: 'geen toestemming',
  consentIntro: 'Vink alleen aan waar de ouders ja op hebben gezegd.',
  consentRecordingYes: 'Ja, de ouders geven toestemming om op te nemen',
  consentRecordingNo: 'Nee, (nog) geen toestemming om op te nemen',
  consentRecordingNeeded: 'Kies of de ouders toestemming geven om op te nemen.',
  consentExplain_recording: 'Opnemen: de trainer filmt bij het gezin thuis.',
  consentExplain_review: 'Nabespreken: de beelden samen met de ouders terugkijken.',
  consentExplain_supervision: 'Supervisie: de trainer bespreekt de beelden met een supervisor.',
  consentExplain_training: 'Scholing: de beelden worden gebruikt om andere trainers op te leiden.',
  create: 'Aanmaken',
  cancel: 'Annuleren',
  caseCreated: 'Casus {code} aangemaakt',
  preview: 'Camerabeeld',
  previewShow: 'Tonen',
  previewNone: 'Geen camerabeeld: de camera staat niet aan of is nog niet klaar.',
  storage: 'Opslag',
  minutesLeft: 'nog ongeveer {n} minuten',
  battery: 'Accu',
  batteryUnknown: 'onbekend',
  charging: 'laadt op',
  dock: 'Dock',
  docked: 'in het dock',
  undocked: 'niet in het dock',
  sync: 'Upload',
  lock: 'Vergrendelen',
  unlock: 'Ontgrendelen',
  locked: 'Vergrendeld: afspelen vraagt de pincode',
  lockedTitle: 'De kit is vergrendeld',
  deletedNow: 'Opname verwijderd.',
  deletePending: 'Wordt verwijderd zodra de organisatie de opname heeft ontvangen.',
  lockedExplain: 'Opnamen en casussen zijn verborgen tot de pincode is ingevoerd. Opnemen gaat gewoon door.',
  unlocked: 'Ontgrendeld',
  unlockTitle: 'Pincode om te ontgrendelen',
  // sync states
  sync_off: 'uit',
  sync_idle: 'wacht op het dock',
  sync_checking: 'controleert de verbinding',
  sync_uploading: 'bezig met uploaden',
  sync_done: 'klaar',
  sync_error: 'fout',
  pending: '{n} nog niet bevestigd',
  // library
  libraryTitle: 'Opnamen',
  libraryEmpty: 'Nog geen opnamen.',
  unassignedGroup: 'Niet toegewezen',
  visit: 'Bezoek {n}',
  duration: 'Duur',
  markerCount: '{n} markeringen',
  badgeRecording: 'opname loopt',
  badgeRecovered: 'hersteld',
  badgeUnassigned: 'niet toegewezen',
  badgeUploaded: 'geüpload',
  open: 'Openen',
  assign: 'Toewijzen',
  assignTo: 'Toewijzen aan casus',
  assigned: 'Toegewezen aan {code}',
  delete: 'Verwijderen',
  deleteConfirm: 'Deze opname echt verwijderen? Dit wordt vastgelegd in het logboek.',
  deleteYes: 'Ja, verwijderen',
  refresh: 'Vernieuwen',
  // player
  playerTitle: 'Opname bekijken',
  back: 'Terug naar opnamen',
  play: 'Afspelen',
  pause: 'Pauze',
  speed: 'Snelheid',
  frameBack: 'Beeldje terug',
  frameForward: 'Beeldje verder',
  prevMarker: 'Vorige markering',
  nextMarker: 'Volgende markering',
  markerWord: 'markering',
  loopA: 'Lus begin (A)',
  loopB: 'Lus einde (B)',
  loopOff: 'Lus uit',
  loopOn: 'Lus {a} – {b}',
  loopSetA: 'Lus: begin hier zetten',
  loopSetB: 'Lus: einde hier zetten',
  loopClear: 'Lus stoppen',
  addMarker: 'Markering toevoegen',
  markerLabel: 'Label',
  markerNoLabel: '(zonder label)',
  still: 'Still maken',
  stillSaved: 'Still opgeslagen op {time}',
  stills: 'Stills',
  stillsNone: 'Nog geen stills.',
  markers: 'Markeringen',
  markersNone: 'Nog geen markeringen.',
  shortcuts: 'Sneltoetsen',
  shortcutsText:
    'spatie: afspelen/pauze · ← →: 1 s terug/verder · , .: beeldje terug/verder · [ ]: vorige/volgende markering · 1 2 4: 1×, ½×, ¼× · l: lus · m: markering · s: still',
  present: 'Op de tv tonen',
  presentStop: 'Stoppen met tonen',
  presenting: 'Wordt op de tv getoond',
  tvLatency: 'Reactie tv: {ms} ms',
  pairing: 'Tv koppelen',
  pairingCode: 'Koppelcode voor de tv: {code}',
  pairingHint: 'Open {url} in de browser van de tv (of scan de QR-code) en vul deze code in. Geldig tot {time}.',
  pairingQr: 'QR-code met het adres voor de tv',
  tvPaired: 'Tv gekoppeld',
  noVideo: 'Dit beeld kan niet worden afgespeeld.',
  time: 'Tijd',
  // tv
  tvTitle: 'VHT Kit – tv',
  tvPairTitle: 'Deze tv koppelen',
  tvPairHint: 'Vul de koppelcode in die de trainer op de telefoon ziet.',
  tvCode: 'Koppelcode (6 cijfers)',
  tvPair: 'Koppelen',
  tvIdle: 'Even wachten: de trainer kiest een opname.',
  tvJoin: 'Telefoon verbinden: scan de code voor het wifi-netwerk',
  tvJoinAlt: 'QR-code om met het wifi-netwerk van de kit te verbinden',
  // errors
  errorPrefix: 'Fout',
  errorNetwork: 'Geen verbinding met de kit.',
  errorUnauthorized: 'Eerst inloggen.',
  errorForbidden: 'Niet toegestaan.',
  errorStatus: 'De kit antwoordde met fout {status}.',
  close: 'Sluiten',
  ...teamNl,
};

export type Key = keyof typeof nl;

const en: Record<Key, string> = {
  ...REVIEW_EN,
  appName: 'VHT Kit',
  language: 'Taal: Nederlands',
  languageSwitchTo: 'nl',
  loading: 'Loading…',
  loginTitle: 'Log in',
  pinLabel: 'Trainer PIN',
  loginButton: 'Log in',
  logout: 'Log out',
  navRemote: 'Remote',
  navLibrary: 'Clips',
  navPlayer: 'Player',
  menu: 'Menu',
  tvSection: 'TV',
  stateIdle: 'Camera off',
  stateArmed: 'Ready to record',
  stateRecording: 'Recording',
  stateError: 'Camera fault',
  start: 'Start recording',
  stop: 'Stop recording',
  arm: 'Turn camera on',
  reviewLast: 'Review the last take',
  timer: 'Recording time',
  preRollNote: 'including {s} s before the press',
  preRollBadge: '+{s} s before',
  markersTitle: 'Mark a moment',
  markMoment: 'Mark',
  markerAdded: 'Marked: {label} at {time}',
  markerTick: 'Marker {label} at {time}',
  timeline: 'Timeline',
  caseTitle: 'Family (case)',
  caseNone: 'No case yet (assign later)',
  caseSelect: 'Case for the next take',
  caseNew: 'New case',
  caseCode: 'Pseudonym (code, never a name)',
  caseCodeHint: 'For example GZ-0042: letters, digits and dashes, at least two digits.',
  trajectory: 'Trajectory',
  consent: 'Consent',
  consentNone: 'no consent',
  consentIntro: 'Tick only what the parents said yes to.',
  consentRecordingYes: 'Yes, the parents consent to recording',
  consentRecordingNo: 'No, no consent to recording (yet)',
  consentRecordingNeeded: 'Choose whether the parents consent to recording.',
  consentExplain_recording: "Recording: the trainer films at the family's home.",
  consentExplain_review: 'Review: watching the footage back together with the parents.',
  consentExplain_supervision: 'Supervision: the trainer discusses the footage with a supervisor.',
  consentExplain_training: 'Training: the footage is used to train other trainers.',
  create: 'Create',
  cancel: 'Cancel',
  caseCreated: 'Case {code} created',
  preview: 'Camera preview',
  previewShow: 'Show',
  previewNone: 'No camera preview: the camera is off or not ready yet.',
  storage: 'Storage',
  minutesLeft: 'about {n} minutes left',
  battery: 'Battery',
  batteryUnknown: 'unknown',
  charging: 'charging',
  dock: 'Dock',
  docked: 'docked',
  undocked: 'not docked',
  sync: 'Upload',
  lock: 'Lock',
  unlock: 'Unlock',
  locked: 'Locked: playback needs the PIN',
  lockedTitle: 'The kit is locked',
  deletedNow: 'Clip deleted.',
  deletePending: 'Will be deleted once the organisation has received the clip.',
  lockedExplain: 'Clips and cases are hidden until the PIN is entered. Recording goes on.',
  unlocked: 'Unlocked',
  unlockTitle: 'PIN to unlock',
  sync_off: 'off',
  sync_idle: 'waiting for the dock',
  sync_checking: 'checking the connection',
  sync_uploading: 'uploading',
  sync_done: 'done',
  sync_error: 'error',
  pending: '{n} not yet confirmed',
  libraryTitle: 'Clips',
  libraryEmpty: 'No clips yet.',
  unassignedGroup: 'Unassigned',
  visit: 'Visit {n}',
  duration: 'Duration',
  markerCount: '{n} markers',
  badgeRecording: 'recording',
  badgeRecovered: 'recovered',
  badgeUnassigned: 'unassigned',
  badgeUploaded: 'uploaded',
  open: 'Open',
  assign: 'Assign',
  assignTo: 'Assign to case',
  assigned: 'Assigned to {code}',
  delete: 'Delete',
  deleteConfirm: 'Really delete this clip? This is recorded in the audit log.',
  deleteYes: 'Yes, delete',
  refresh: 'Refresh',
  playerTitle: 'Review a clip',
  back: 'Back to clips',
  play: 'Play',
  pause: 'Pause',
  speed: 'Speed',
  frameBack: 'Frame back',
  frameForward: 'Frame forward',
  prevMarker: 'Previous marker',
  nextMarker: 'Next marker',
  markerWord: 'marker',
  loopA: 'Loop start (A)',
  loopB: 'Loop end (B)',
  loopOff: 'Loop off',
  loopOn: 'Loop {a} – {b}',
  loopSetA: 'Loop: set the start here',
  loopSetB: 'Loop: set the end here',
  loopClear: 'Stop the loop',
  addMarker: 'Add marker',
  markerLabel: 'Label',
  markerNoLabel: '(no label)',
  still: 'Take still',
  stillSaved: 'Still saved at {time}',
  stills: 'Stills',
  stillsNone: 'No stills yet.',
  markers: 'Markers',
  markersNone: 'No markers yet.',
  shortcuts: 'Shortcuts',
  shortcutsText:
    'space: play/pause · ← →: 1 s back/forward · , .: frame back/forward · [ ]: previous/next marker · 1 2 4: 1×, ½×, ¼× · l: loop · m: marker · s: still',
  present: 'Show on TV',
  presentStop: 'Stop showing',
  presenting: 'Showing on the TV',
  tvLatency: 'TV reaction: {ms} ms',
  pairing: 'Pair a TV',
  pairingCode: 'Pairing code for the TV: {code}',
  pairingHint: "Open {url} in the TV's browser (or scan the QR code) and enter this code. Valid until {time}.",
  pairingQr: 'QR code with the address for the TV',
  tvPaired: 'TV paired',
  noVideo: 'This video cannot be played.',
  time: 'Time',
  tvTitle: 'VHT Kit – TV',
  tvPairTitle: 'Pair this TV',
  tvPairHint: 'Enter the pairing code the trainer sees on the phone.',
  tvCode: 'Pairing code (6 digits)',
  tvPair: 'Pair',
  tvIdle: 'One moment: the trainer is choosing a clip.',
  tvJoin: 'Connect a phone: scan the code for the Wi-Fi network',
  tvJoinAlt: "QR code to join the kit's Wi-Fi network",
  errorPrefix: 'Error',
  errorNetwork: 'No connection to the kit.',
  errorUnauthorized: 'Log in first.',
  errorForbidden: 'Not allowed.',
  errorStatus: 'The kit answered with error {status}.',
  close: 'Close',
  ...teamEn,
};

export type Lang = 'nl' | 'en';
export const STRINGS: Record<Lang, Record<Key, string>> = { nl, en };

/** The trajectories' own (Dutch) names, in both languages: they are the names of programmes. */
const TRAJECTORY_NAMES: Record<string, string> = {
  'k-vht': 'K-VHT',
  'vht-voorzorg': 'VHT-VoorZorg',
  'lokale-teams': 'Lokale teams',
  'jeugdhulp-ggz': 'Jeugdhulp/GGZ',
  'verstandelijke-beperkingen': 'Verstandelijke beperkingen',
  'communicatieve-beperkingen': 'Communicatieve beperkingen',
  gehechtheid: 'Gehechtheid',
  'complexe-problemen': 'Complexe problemen',
};

/** Trajectory and consent-scope names: known ones translated, unknown ones shown as they are. */
const TERMS: Record<Lang, Record<string, string>> = {
  nl: { recording: 'opnemen', review: 'nabespreken', supervision: 'supervisie', training: 'scholing', ...TRAJECTORY_NAMES },
  en: { recording: 'recording', review: 'review', supervision: 'supervision', training: 'training', ...TRAJECTORY_NAMES },
};

export type T = ((key: Key, vars?: Record<string, string | number>) => string) & { lang: Lang; term: (s: string) => string };

export function makeT(lang: Lang): T {
  const table = STRINGS[lang];
  const fn = ((key: Key, vars?: Record<string, string | number>) => {
    let s = table[key] ?? STRINGS.nl[key] ?? key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
    return s;
  }) as T;
  fn.lang = lang;
  fn.term = (s: string) => TERMS[lang][s] ?? s;
  return fn;
}

const STORAGE_KEY = 'vht-lang';

export function storedLang(): Lang {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    return v === 'en' ? 'en' : 'nl';
  } catch {
    return 'nl';
  }
}

export function storeLang(lang: Lang): void {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // private mode: the choice lasts for this page only
  }
  document.documentElement.lang = lang;
}

export const I18n = createContext<T>(makeT('nl'));
export const useT = (): T => useContext(I18n);

/** mm:ss (or h:mm:ss) of a duration in milliseconds. */
export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** m:ss.cc of a clip time in seconds (for the player). */
export function fmtClipTime(sec: number): string {
  const s = Math.max(0, sec);
  const m = Math.floor(s / 60);
  const rest = (s - m * 60).toFixed(2).padStart(5, '0');
  return `${m}:${rest}`;
}
