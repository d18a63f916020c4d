// The team kit's strings (issue 20), Dutch first and English second; merged into i18n.ts's table.
export const teamNl = {
  trainerIdLabel: 'Trainer-id',
  trainerIdHint: 'Bijvoorbeeld T-017. Leeg laten op een kit met één pincode.',
  myCases: 'Mijn casussen',
  signedInAs: 'Ingelogd als {id}',
  fetchLabel: 'Voor het volgende bezoek',
  fetchOnKit: 'Op deze kit: opnamen {clips} · nabesprekingen {reviews} · fragmenten en stills {kept}',
  fetchBusy: 'Wordt opgehaald: opnamen {waiting} ({done} van {total} MB)',
  fetchJust: 'Net opgehaald: opnamen {clips} · nabesprekingen {reviews} · fragmenten en stills {kept}',
  fetchFailed: 'Ophalen lukte niet helemaal; de kit probeert het bij de volgende keer docken opnieuw',
  fetchLocked: 'Ophalen na inloggen',
};

export const teamEn: Record<keyof typeof teamNl, string> = {
  trainerIdLabel: 'Trainer id',
  trainerIdHint: 'For example T-017. Leave empty on a kit with one PIN.',
  myCases: 'My cases',
  signedInAs: 'Signed in as {id}',
  fetchLabel: 'For the next visit',
  fetchOnKit: 'On this kit: clips {clips} · reviews {reviews} · fragments and stills {kept}',
  fetchBusy: 'Being fetched: clips {waiting} ({done} of {total} MB)',
  fetchJust: 'Just fetched: clips {clips} · reviews {reviews} · fragments and stills {kept}',
  fetchFailed: 'Fetching did not fully work; the kit tries again the next time it docks',
  fetchLocked: 'Fetching after sign-in',
};
