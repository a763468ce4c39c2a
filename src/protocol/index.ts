export * from './constants';
export * from './errno';
export * from './layout';
export * from './codec';
export * from './pin';
