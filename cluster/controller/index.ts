export { Controller, chooseBindAddress, interfaceAddress, primaryAddress, type ControllerOptions, type LauncherControl } from './controller';
export { controllerMain, parseControllerArgs } from './cli';
export { Journal } from './journal';
export { Scheduler } from './scheduler';
